//! Calibration observers: running statistics over sample activations that produce the
//! [`QuantParams`] the layers take.

use crate::{Error, QType, QuantParams, Result, SymmetricRange};

fn batch_min_max(x: &[f32]) -> Result<Option<(f32, f32)>> {
    if let Some(index) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "observed values",
            index,
        });
    }
    Ok(x.iter().fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((f32::min(lo, v), f32::max(hi, v))),
    }))
}

fn params<T: QType>(range: Option<(f32, f32)>) -> Result<QuantParams<T>> {
    let (lo, hi) = range.ok_or_else(|| Error::Range {
        reason: "the observer has seen no values".into(),
    })?;
    QuantParams::from_range(lo, hi)
}

fn symmetric<T: QType>(range: Option<(f32, f32)>, sym: SymmetricRange) -> Result<QuantParams<T>> {
    let (lo, hi) = range.ok_or_else(|| Error::Range {
        reason: "the observer has seen no values".into(),
    })?;
    QuantParams::symmetric(hi.max(-lo), sym)
}

/// The running minimum and maximum of everything observed (PyTorch `MinMaxObserver`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MinMaxObserver {
    range: Option<(f32, f32)>,
}

impl MinMaxObserver {
    /// An observer that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a batch of values. NaN or infinite values are an error and leave the
    /// observer unchanged; an empty batch changes nothing.
    pub fn observe(&mut self, x: &[f32]) -> Result<()> {
        if let Some((lo, hi)) = batch_min_max(x)? {
            self.range = Some(match self.range {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        Ok(())
    }

    /// The observed `(min, max)`, if anything was observed.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }

    /// Asymmetric parameters for the observed range ([`QuantParams::from_range`], 0.0
    /// exact). An error if nothing was observed.
    pub fn params<T: QType>(&self) -> Result<QuantParams<T>> {
        params(self.range)
    }

    /// Symmetric parameters for the observed absolute maximum.
    pub fn symmetric_params<T: QType>(&self, range: SymmetricRange) -> Result<QuantParams<T>> {
        symmetric(self.range, range)
    }
}

/// An exponential moving average of each batch's minimum and maximum (PyTorch
/// `MovingAverageMinMaxObserver`): the first batch sets the range, each later one moves
/// it by `min ← min + c·(batch_min − min)`, likewise the max, in f32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MovingAverageMinMaxObserver {
    averaging_constant: f32,
    range: Option<(f32, f32)>,
}

impl MovingAverageMinMaxObserver {
    /// An observer with averaging constant `c` in `(0, 1]` (PyTorch's default is 0.01);
    /// anything else is an error.
    pub fn new(averaging_constant: f32) -> Result<Self> {
        if !(averaging_constant > 0.0 && averaging_constant <= 1.0) {
            return Err(Error::Range {
                reason: format!("averaging constant {averaging_constant:e} is not in (0, 1]"),
            });
        }
        Ok(MovingAverageMinMaxObserver {
            averaging_constant,
            range: None,
        })
    }

    /// Records one batch (see the type's documentation). NaN or infinite values are an
    /// error and leave the observer unchanged; an empty batch changes nothing.
    pub fn observe(&mut self, x: &[f32]) -> Result<()> {
        let c = self.averaging_constant;
        if let Some((lo, hi)) = batch_min_max(x)? {
            self.range = Some(match self.range {
                None => (lo, hi),
                Some((a, b)) => (a + c * (lo - a), b + c * (hi - b)),
            });
        }
        Ok(())
    }

    /// The averaged `(min, max)`, if anything was observed.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }

    /// Asymmetric parameters for the averaged range. An error if nothing was observed.
    pub fn params<T: QType>(&self) -> Result<QuantParams<T>> {
        params(self.range)
    }

    /// Symmetric parameters for the averaged absolute maximum.
    pub fn symmetric_params<T: QType>(&self, range: SymmetricRange) -> Result<QuantParams<T>> {
        symmetric(self.range, range)
    }
}
