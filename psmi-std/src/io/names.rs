//! Names chosen by pattern: shell-style globs over file and tensor names,
//! taken in natural order (`part-2` before `part-10`).

use std::cmp::Ordering;

/// Shell-style match of a whole name: `*` any run of characters, `?` one.
pub(crate) fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
        Some((b'?', rest)) => {
            // One character: a UTF-8 lead byte and its continuation bytes.
            let len = name
                .iter()
                .skip(1)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count()
                + 1;
            !name.is_empty() && matches(rest, &name[len.min(name.len())..])
        }
        Some((c, rest)) => name.first() == Some(c) && matches(rest, &name[1..]),
    }
}

/// Natural order: runs of digits compare as numbers, the rest as text.
pub(crate) fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let order = ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(da.cmp(db));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => (a, b) = (&a[1..], &b[1..]),
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    s.split_at(s.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(matches(b"part-*.npy", b"part-10.npy"));
        assert!(matches(b"part-*.npy", b"part-.npy"));
        assert!(!matches(b"part-*.npy", b"part-1.npy.bak"));
        assert!(matches(b"?.npy", "é.npy".as_bytes()));
        assert!(!matches(b"?.npy", b".npy"));
        assert!(matches(b"*", b""));
    }

    #[test]
    fn glob_patterns() {
        assert!(matches(b"layers.*", b"layers.0"));
        assert!(matches(b"layers.*", b"layers."));
        assert!(!matches(b"layers.*", b"layer.0"));
        assert!(matches(b"*.h?", b"model.h1"));
        assert!(!matches(b"*.h?", b"model.h12"));
        assert!(matches(b"a*b*c", b"abxbc"));
        assert!(!matches(b"a*b*c", b"abxbd"));
    }

    #[test]
    fn natural_order_of_tensor_names() {
        let mut names = [
            "layers.10",
            "layers.2",
            "layers.1",
            "head",
            "layers.02",
            "layers.x",
        ];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            [
                "head",
                "layers.1",
                "layers.02",
                "layers.2",
                "layers.10",
                "layers.x"
            ]
        );
    }

    #[test]
    fn natural_order_of_file_names() {
        let mut names = ["p-10", "p-2", "p-1", "p-02", "q-0", "p-100", "p-9a", "p-9"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            ["p-1", "p-02", "p-2", "p-9", "p-9a", "p-10", "p-100", "q-0"]
        );
    }
}
