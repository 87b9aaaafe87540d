//! Borrowed row-major matrices with a row stride.

use crate::{Error, Result};

/// A borrowed row-major matrix: element `(r, c)` is `data[r · stride + c]`.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Elements between the starts of consecutive rows (`>= cols`).
    pub stride: usize,
}

/// A mutably borrowed row-major matrix: element `(r, c)` is `data[r · stride + c]`.
#[derive(Debug)]
pub struct MatrixMut<'a, T> {
    /// The elements.
    pub data: &'a mut [T],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Elements between the starts of consecutive rows (`>= cols`).
    pub stride: usize,
}

/// Elements a `rows × cols` matrix with `stride` spans (0 when empty); `None` on overflow.
pub(crate) fn span(rows: usize, cols: usize, stride: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        Some(0)
    } else {
        (rows - 1).checked_mul(stride)?.checked_add(cols)
    }
}

pub(crate) fn check_layout(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    stride: usize,
) -> Result<()> {
    if stride < cols {
        return Err(Error::Stride {
            what,
            stride,
            min: cols,
        });
    }
    let needed = span(rows, cols, stride).ok_or_else(|| {
        Error::Shape(format!(
            "{what}: {rows}×{cols} with stride {stride} overflows usize"
        ))
    })?;
    if len < needed {
        return Err(Error::BufferTooSmall {
            what,
            needed,
            got: len,
        });
    }
    Ok(())
}

impl<'a, T> Matrix<'a, T> {
    /// A dense matrix (`stride = cols`).
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Matrix {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// A matrix with an explicit row stride.
    pub fn with_stride(data: &'a [T], rows: usize, cols: usize, stride: usize) -> Self {
        Matrix {
            data,
            rows,
            cols,
            stride,
        }
    }

    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        check_layout(what, self.data.len(), self.rows, self.cols, self.stride)
    }
}

impl<'a, T> MatrixMut<'a, T> {
    /// A dense matrix (`stride = cols`).
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        MatrixMut {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// A matrix with an explicit row stride.
    pub fn with_stride(data: &'a mut [T], rows: usize, cols: usize, stride: usize) -> Self {
        MatrixMut {
            data,
            rows,
            cols,
            stride,
        }
    }

    /// Reborrows as a shorter-lived `MatrixMut`.
    pub fn reborrow(&mut self) -> MatrixMut<'_, T> {
        MatrixMut {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }

    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        check_layout(what, self.data.len(), self.rows, self.cols, self.stride)
    }
}
