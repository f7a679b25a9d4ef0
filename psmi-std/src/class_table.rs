//! The layout of class statistics and parameters: k × m class-major tables
//! (row c for class c, column j for direction j), cut into blocks of
//! directions, joined with their classes moved (to label order, or to
//! another fitter's order), and grown one class at a time.

use std::ops::Range;

/// A k × m class-major table of f64 (means, M2s or standard deviations of
/// every class along every direction). Every copy between layouts goes
/// through it, so that no caller indexes `c * m + j` itself.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClassTable {
    directions: usize,
    values: Vec<f64>,
}

impl ClassTable {
    /// `classes × directions` zeros.
    pub fn zeros(classes: usize, directions: usize) -> Self {
        ClassTable {
            directions,
            values: vec![0.0; classes * directions],
        }
    }

    /// Wraps class-major values, `values.len() / directions` classes.
    pub fn from_values(directions: usize, values: Vec<f64>) -> Self {
        ClassTable { directions, values }
    }

    /// Columns `columns` of the class-major `values`, `directions` wide: one
    /// block of directions of a model's means or stds.
    pub fn columns_of(values: &[f64], directions: usize, columns: Range<usize>) -> Self {
        let width = columns.len();
        let mut out = Vec::with_capacity(values.len() / directions.max(1) * width);
        for row in values.chunks_exact(directions.max(1)) {
            out.extend_from_slice(&row[columns.clone()]);
        }
        ClassTable::from_values(width, out)
    }

    /// Writes `block`'s columns into columns `first ..` of this table, its
    /// row `c` into row `rows[c]` (`rows` `None`: the same row).
    pub fn scatter(&mut self, first: usize, block: &ClassTable, rows: Option<&[usize]>) {
        let (m, width) = (self.directions, block.directions);
        for (c, src) in block.values.chunks_exact(width.max(1)).enumerate() {
            let row = rows.map_or(c, |rows| rows[c]);
            self.values[row * m + first..row * m + first + width].copy_from_slice(src);
        }
    }

    /// Appends a class of zeros.
    pub fn add_class(&mut self) {
        self.values.resize(self.values.len() + self.directions, 0.0);
    }

    /// Number of directions m (columns).
    pub fn directions(&self) -> usize {
        self.directions
    }

    /// The values, class-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values, class-major, to fill in place.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// The values, class-major, by value.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 × 5 table whose cell (c, j) holds 10c + j.
    fn numbered() -> ClassTable {
        let values = (0..3)
            .flat_map(|c| (0..5).map(move |j| (10 * c + j) as f64))
            .collect();
        ClassTable::from_values(5, values)
    }

    fn columns(table: &ClassTable, columns: Range<usize>) -> ClassTable {
        ClassTable::columns_of(table.values(), table.directions(), columns)
    }

    #[test]
    fn columns_then_scatter_give_the_table_back() {
        let table = numbered();
        let block = columns(&table, 1..4);
        assert_eq!(block.values(), &[1., 2., 3., 11., 12., 13., 21., 22., 23.]);
        let mut joined = ClassTable::zeros(3, 5);
        joined.scatter(0, &columns(&table, 0..1), None);
        joined.scatter(1, &block, None);
        joined.scatter(4, &columns(&table, 4..5), None);
        assert_eq!(joined, table);
    }

    #[test]
    fn scatter_moves_each_class_to_its_row() {
        let table = numbered();
        let mut moved = ClassTable::zeros(3, 5);
        moved.scatter(2, &columns(&table, 0..2), Some(&[2, 0, 1]));
        assert_eq!(&moved.values()[..5], &[0., 0., 10., 11., 0.]);
        assert_eq!(&moved.values()[5..10], &[0., 0., 20., 21., 0.]);
        assert_eq!(&moved.values()[10..], &[0., 0., 0., 1., 0.]);
    }

    #[test]
    fn an_added_class_is_zeros() {
        let mut table = numbered();
        table.add_class();
        assert_eq!(table.values().len(), 20);
        assert!(table.values()[15..].iter().all(|&v| v == 0.0));
        assert_eq!(columns(&table, 2..3).values(), &[2., 12., 22., 0.]);
    }
}
