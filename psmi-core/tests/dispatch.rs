use psmi_core::{Isa, Kernels};

#[test]
fn detection_picks_a_supported_set() {
    let kernels = Kernels::detect();
    assert!(kernels.isa().is_supported());
    for isa in Isa::ALL {
        assert_eq!(Kernels::for_isa(isa).is_some(), isa.is_supported());
        if isa.enabled_at_compile_time() {
            assert!(isa.is_supported(), "{isa:?} compiled in but not detected");
        }
    }
}
