//! The digits models: data loading, f32 training in plain Rust (deterministic), and
//! the int8 version built from `zeropoint::layers` (calibrated on the training split,
//! integer-only inference). Shared by `examples/digits/main.rs` and `tests/digits.rs`.

#![allow(dead_code, clippy::needless_range_loop)]

use zeropoint::layers::Nhwc;
use zeropoint::{
    Activation, Conv2d, Conv2dGeometry, Engine, Granularity, Linear, Matrix, MatrixMut,
    MinMaxObserver, QuantParams, RequantScheme, StaticQuant, WeightQuantization,
};

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Classes.
pub const CLASSES: usize = 10;

/// Images (`n × 64`, intensities scaled to `[0, 1]`) and labels.
#[derive(Clone, Debug, Default)]
pub struct Data {
    pub x: Vec<f32>,
    pub y: Vec<u8>,
}

impl Data {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn image(&self, i: usize) -> &[f32] {
        &self.x[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// Parses `digits.csv` (header, then `p0..p63,label` per row; pixels 0..16).
pub fn parse(text: &str) -> Result<Data, String> {
    let mut d = Data::default();
    for (ln, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let v: Vec<u32> = line
            .split(',')
            .map(|f| f.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("line {}: {e}", ln + 1))?;
        if v.len() != PIXELS + 1
            || v[PIXELS] >= CLASSES as u32
            || v[..PIXELS].iter().any(|&p| p > 16)
        {
            return Err(format!("line {}: malformed row", ln + 1));
        }
        d.x.extend(v[..PIXELS].iter().map(|&p| p as f32 / 16.0));
        d.y.push(v[PIXELS] as u8);
    }
    Ok(d)
}

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// A shuffled split: the first `train_fraction` of the images train, the rest test.
pub fn split(d: &Data, seed: u64, train_fraction: f32) -> (Data, Data) {
    let mut idx: Vec<usize> = (0..d.len()).collect();
    Rng(seed).shuffle(&mut idx);
    let cut = (d.len() as f32 * train_fraction) as usize;
    let take = |ids: &[usize]| Data {
        x: ids
            .iter()
            .flat_map(|&i| d.image(i).iter().copied())
            .collect(),
        y: ids.iter().map(|&i| d.y[i]).collect(),
    };
    (take(&idx[..cut]), take(&idx[cut..]))
}

// ---------------------------------------------------------------- f32 layers

/// A layer of the f32 model: weights `[out × K]` (dense) or OHWI (conv), bias, ReLU.
#[derive(Clone, Debug)]
pub struct Layer {
    pub kind: Kind,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub relu: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Dense {
        inp: usize,
        out: usize,
    },
    /// 3×3 convolution, padding 1, NHWC input `h × w × cin`.
    Conv {
        h: usize,
        w: usize,
        cin: usize,
        cout: usize,
        stride: usize,
    },
}

impl Kind {
    fn conv_out(h: usize, stride: usize) -> usize {
        (h + 2 - 3) / stride + 1
    }

    pub fn in_len(&self) -> usize {
        match *self {
            Kind::Dense { inp, .. } => inp,
            Kind::Conv { h, w, cin, .. } => h * w * cin,
        }
    }

    pub fn out_len(&self) -> usize {
        match *self {
            Kind::Dense { out, .. } => out,
            Kind::Conv {
                h, w, cout, stride, ..
            } => Self::conv_out(h, stride) * Self::conv_out(w, stride) * cout,
        }
    }

    fn fan_in(&self) -> usize {
        match *self {
            Kind::Dense { inp, .. } => inp,
            Kind::Conv { cin, .. } => 9 * cin,
        }
    }

    fn channels(&self) -> usize {
        match *self {
            Kind::Dense { out, .. } => out,
            Kind::Conv { cout, .. } => cout,
        }
    }
}

impl Layer {
    fn new(kind: Kind, relu: bool, rng: &mut Rng) -> Self {
        let n = kind.channels() * kind.fan_in();
        // He-uniform initialisation.
        let a = (6.0 / kind.fan_in() as f32).sqrt();
        let w = (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * a).collect();
        Layer {
            kind,
            w,
            b: vec![0.0; kind.channels()],
            relu,
        }
    }

    pub fn params(&self) -> usize {
        self.w.len() + self.b.len()
    }

    /// `y = act(layer(x))` for one image.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        match self.kind {
            Kind::Dense { inp, out } => {
                for j in 0..out {
                    let row = &self.w[j * inp..(j + 1) * inp];
                    y[j] = self.b[j] + dot(row, x);
                }
            }
            Kind::Conv {
                h,
                w,
                cin,
                cout,
                stride,
            } => {
                let (oh, ow) = (Kind::conv_out(h, stride), Kind::conv_out(w, stride));
                for oy in 0..oh {
                    for ox in 0..ow {
                        let o = &mut y[(oy * ow + ox) * cout..(oy * ow + ox + 1) * cout];
                        o.copy_from_slice(&self.b);
                        for ky in 0..3 {
                            let iy = (oy * stride + ky).wrapping_sub(1);
                            if iy >= h {
                                continue;
                            }
                            for kx in 0..3 {
                                let ix = (ox * stride + kx).wrapping_sub(1);
                                if ix >= w {
                                    continue;
                                }
                                let xs = &x[(iy * w + ix) * cin..(iy * w + ix + 1) * cin];
                                for (c, oc) in o.iter_mut().enumerate() {
                                    let ws = &self.w[((c * 3 + ky) * 3 + kx) * cin..][..cin];
                                    *oc += dot(ws, xs);
                                }
                            }
                        }
                    }
                }
            }
        }
        if self.relu {
            for v in y.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }

    /// Backward for one image: `dy` is the gradient at the output (after the ReLU),
    /// `y` the output; accumulates into `gw`, `gb`; writes `dx` when given.
    fn backward(
        &self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        if self.relu {
            for (d, &v) in dy.iter_mut().zip(y) {
                if v <= 0.0 {
                    *d = 0.0;
                }
            }
        }
        match self.kind {
            Kind::Dense { inp, out } => {
                for j in 0..out {
                    let g = dy[j];
                    gb[j] += g;
                    if g != 0.0 {
                        for (w, &xv) in gw[j * inp..(j + 1) * inp].iter_mut().zip(x) {
                            *w += g * xv;
                        }
                    }
                }
                if let Some(dx) = dx {
                    dx.fill(0.0);
                    for j in 0..out {
                        let g = dy[j];
                        if g != 0.0 {
                            for (d, &w) in dx.iter_mut().zip(&self.w[j * inp..(j + 1) * inp]) {
                                *d += g * w;
                            }
                        }
                    }
                }
            }
            Kind::Conv {
                h,
                w,
                cin,
                cout,
                stride,
            } => {
                let (oh, ow) = (Kind::conv_out(h, stride), Kind::conv_out(w, stride));
                let mut dx = dx;
                if let Some(dx) = dx.as_deref_mut() {
                    dx.fill(0.0);
                }
                for oy in 0..oh {
                    for ox in 0..ow {
                        let d = &dy[(oy * ow + ox) * cout..(oy * ow + ox + 1) * cout];
                        for (g, &v) in gb.iter_mut().zip(d) {
                            *g += v;
                        }
                        for ky in 0..3 {
                            let iy = (oy * stride + ky).wrapping_sub(1);
                            if iy >= h {
                                continue;
                            }
                            for kx in 0..3 {
                                let ix = (ox * stride + kx).wrapping_sub(1);
                                if ix >= w {
                                    continue;
                                }
                                let xo = (iy * w + ix) * cin;
                                for (c, &g) in d.iter().enumerate() {
                                    if g == 0.0 {
                                        continue;
                                    }
                                    let wo = ((c * 3 + ky) * 3 + kx) * cin;
                                    for (gw, &xv) in
                                        gw[wo..wo + cin].iter_mut().zip(&x[xo..xo + cin])
                                    {
                                        *gw += g * xv;
                                    }
                                    if let Some(dx) = dx.as_deref_mut() {
                                        for (dxv, &wv) in
                                            dx[xo..xo + cin].iter_mut().zip(&self.w[wo..wo + cin])
                                        {
                                            *dxv += g * wv;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An f32 network: a chain of layers, the last one giving the 10 logits.
#[derive(Clone, Debug)]
pub struct Net {
    pub name: &'static str,
    pub layers: Vec<Layer>,
}

/// MLP 64 → 384 → 256 → 10 (ReLU).
pub fn mlp(seed: u64) -> Net {
    let mut r = Rng(seed);
    Net {
        name: "MLP 64-384-256-10",
        layers: vec![
            Layer::new(Kind::Dense { inp: 64, out: 384 }, true, &mut r),
            Layer::new(Kind::Dense { inp: 384, out: 256 }, true, &mut r),
            Layer::new(Kind::Dense { inp: 256, out: 10 }, false, &mut r),
        ],
    }
}

/// CNN: conv 3×3 1→8, conv 3×3 stride 2 8→32, dense 512→64, dense 64→10 (ReLU).
pub fn cnn(seed: u64) -> Net {
    let mut r = Rng(seed);
    Net {
        name: "CNN c8-c32s2-64-10",
        layers: vec![
            Layer::new(
                Kind::Conv {
                    h: 8,
                    w: 8,
                    cin: 1,
                    cout: 8,
                    stride: 1,
                },
                true,
                &mut r,
            ),
            Layer::new(
                Kind::Conv {
                    h: 8,
                    w: 8,
                    cin: 8,
                    cout: 32,
                    stride: 2,
                },
                true,
                &mut r,
            ),
            Layer::new(Kind::Dense { inp: 512, out: 64 }, true, &mut r),
            Layer::new(Kind::Dense { inp: 64, out: 10 }, false, &mut r),
        ],
    }
}

impl Net {
    pub fn params(&self) -> usize {
        self.layers.iter().map(Layer::params).sum()
    }

    /// Bytes of the f32 model (weights and biases).
    pub fn bytes(&self) -> usize {
        4 * self.params()
    }

    /// Activations of every layer for one image (`acts[0]` is the input).
    pub fn forward_all(&self, x: &[f32], acts: &mut Vec<Vec<f32>>) {
        acts.resize(self.layers.len() + 1, Vec::new());
        acts[0].clear();
        acts[0].extend_from_slice(x);
        for (i, l) in self.layers.iter().enumerate() {
            let (a, b) = acts.split_at_mut(i + 1);
            b[0].resize(l.kind.out_len(), 0.0);
            l.forward(&a[i], &mut b[0]);
        }
    }

    /// The logits of one image.
    pub fn logits(&self, x: &[f32], acts: &mut Vec<Vec<f32>>) -> Vec<f32> {
        self.forward_all(x, acts);
        acts[self.layers.len()].clone()
    }

    /// Mini-batch SGD with momentum on softmax cross-entropy, deterministic.
    pub fn train(&mut self, data: &Data, epochs: usize, lr: f32, batch: usize, seed: u64) {
        let mut rng = Rng(seed);
        let nl = self.layers.len();
        let mut gw: Vec<Vec<f32>> = self.layers.iter().map(|l| vec![0.0; l.w.len()]).collect();
        let mut gb: Vec<Vec<f32>> = self.layers.iter().map(|l| vec![0.0; l.b.len()]).collect();
        let mut vw = gw.clone();
        let mut vb = gb.clone();
        let mut acts = Vec::new();
        let mut grads: Vec<Vec<f32>> = (0..=nl).map(|_| Vec::new()).collect();
        let mut order: Vec<usize> = (0..data.len()).collect();
        for epoch in 0..epochs {
            rng.shuffle(&mut order);
            // Step decay: a tenth of the rate for the last quarter of the epochs.
            let rate = if epoch * 4 >= epochs * 3 {
                lr * 0.1
            } else {
                lr
            };
            for chunk in order.chunks(batch) {
                gw.iter_mut().for_each(|g| g.fill(0.0));
                gb.iter_mut().for_each(|g| g.fill(0.0));
                for &i in chunk {
                    self.forward_all(data.image(i), &mut acts);
                    // Softmax cross-entropy gradient at the logits.
                    let z = &acts[nl];
                    let m = z.iter().fold(f32::MIN, |a, &b| a.max(b));
                    let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
                    let s: f32 = e.iter().sum();
                    grads[nl] = e.iter().map(|v| v / s).collect();
                    grads[nl][data.y[i] as usize] -= 1.0;
                    for li in (0..nl).rev() {
                        let (lo, hi) = grads.split_at_mut(li + 1);
                        let dx = if li > 0 {
                            lo[li].resize(self.layers[li].kind.in_len(), 0.0);
                            Some(&mut lo[li][..])
                        } else {
                            None
                        };
                        self.layers[li].backward(
                            &acts[li],
                            &acts[li + 1],
                            &mut hi[0],
                            &mut gw[li],
                            &mut gb[li],
                            dx,
                        );
                    }
                }
                let step = rate / chunk.len() as f32;
                for (li, l) in self.layers.iter_mut().enumerate() {
                    for ((w, v), g) in l.w.iter_mut().zip(&mut vw[li]).zip(&gw[li]) {
                        *v = 0.9 * *v - step * g;
                        *w += *v;
                    }
                    for ((b, v), g) in l.b.iter_mut().zip(&mut vb[li]).zip(&gb[li]) {
                        *v = 0.9 * *v - step * g;
                        *b += *v;
                    }
                }
            }
        }
    }

    /// Predicted classes of every image.
    pub fn predict(&self, data: &Data) -> Vec<u8> {
        let mut acts = Vec::new();
        (0..data.len())
            .map(|i| argmax(&self.logits(data.image(i), &mut acts)))
            .collect()
    }
}

/// Dot product with eight partial sums (so that the compiler vectorizes the f32
/// baseline; the order of the additions is fixed, so results are deterministic).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Index of the first maximum.
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> u8 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u8
}

pub fn accuracy(pred: &[u8], data: &Data) -> f64 {
    let ok = pred.iter().zip(&data.y).filter(|(a, b)| a == b).count();
    ok as f64 / data.len() as f64
}

// ---------------------------------------------------------------- int8

enum QLayer {
    Dense(Linear, StaticQuant<u8, u8>),
    Conv(Conv2d, StaticQuant<u8, u8>, Nhwc),
}

/// The int8 network: u8 activations (asymmetric, calibrated), i8 per-channel symmetric
/// weights, i32 bias, fixed-point requantization, fused ReLU. Integer-only from the
/// quantized input to the u8 logits.
pub struct QNet {
    engine: Engine,
    input: QuantParams<u8>,
    layers: Vec<QLayer>,
    widths: Vec<usize>,
}

impl QNet {
    /// Quantizes `net` for `engine`, calibrating every activation with a min/max
    /// observer over `calib`.
    pub fn new(net: &Net, calib: &Data, engine: &Engine) -> zeropoint::Result<QNet> {
        let mut obs = vec![MinMaxObserver::new(); net.layers.len()];
        let mut acts = Vec::new();
        for i in 0..calib.len() {
            net.forward_all(calib.image(i), &mut acts);
            for (o, a) in obs.iter_mut().zip(&acts[1..]) {
                o.observe(a)?;
            }
        }
        let input = QuantParams::<u8>::from_range(0.0, 1.0)?;
        let mut p_in = input;
        let mut layers = Vec::new();
        let mut widths = Vec::new();
        let wq = WeightQuantization::PerChannelSymmetric;
        for (l, o) in net.layers.iter().zip(&obs) {
            let p_out = o.params::<u8>()?;
            let act = if l.relu {
                Activation::Relu
            } else {
                Activation::None
            };
            let scheme = RequantScheme::DoubleRounding;
            match l.kind {
                Kind::Dense { inp, out } => {
                    let lin = Linear::new(engine, &l.w, Some(&l.b), out, inp, wq)?;
                    let sq = lin.static_quant(p_in, p_out, scheme, act)?;
                    layers.push(QLayer::Dense(lin, sq));
                }
                Kind::Conv {
                    h,
                    w,
                    cin,
                    cout,
                    stride,
                } => {
                    let g = Conv2dGeometry::new(3, 3)
                        .with_stride(stride, stride)
                        .with_padding([1; 4]);
                    let conv = Conv2d::new(engine, cin, cout, g, &l.w, Some(&l.b), wq)?;
                    let sq = conv.static_quant(p_in, p_out, scheme, act)?;
                    layers.push(QLayer::Conv(conv, sq, Nhwc::new(1, h, w, cin)));
                }
            }
            widths.push(l.kind.out_len());
            p_in = p_out;
        }
        Ok(QNet {
            engine: *engine,
            input,
            layers,
            widths,
        })
    }

    /// Bytes of the deployed int8 model.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match l {
                QLayer::Dense(lin, _) => lin.quantized_bytes(),
                QLayer::Conv(c, _, _) => c.quantized_bytes(),
            })
            .sum()
    }

    /// The u8 logits of `n` images (`x`: `n × 64` f32), quantized once at the input,
    /// integer-only after that. `bufs` are reused between calls.
    pub fn forward(
        &self,
        x: &[f32],
        n: usize,
        bufs: &mut [Vec<u8>; 2],
    ) -> zeropoint::Result<Vec<u8>> {
        let [a, b] = bufs;
        a.resize(n * PIXELS, 0);
        self.engine
            .quantize(x, &[n * PIXELS], &Granularity::PerTensor(self.input), a)?;
        for (l, &width) in self.layers.iter().zip(&self.widths) {
            b.resize(n * width, 0);
            match l {
                QLayer::Dense(lin, sq) => {
                    let k = lin.in_features();
                    lin.forward(
                        sq,
                        Matrix::new(&a[..n * k], n, k),
                        MatrixMut::new(&mut b[..], n, width),
                    )?;
                }
                QLayer::Conv(conv, sq, s) => {
                    let shape = Nhwc::new(n, s.h, s.w, s.c);
                    conv.forward(sq, &a[..], shape, &mut b[..])?;
                }
            }
            core::mem::swap(a, b);
        }
        Ok(a.clone())
    }

    /// Predicted classes of every image, in batches of `batch`.
    pub fn predict(&self, data: &Data, batch: usize) -> zeropoint::Result<Vec<u8>> {
        let mut bufs = [Vec::new(), Vec::new()];
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            let n = batch.min(data.len() - i);
            let logits = self.forward(&data.x[i * PIXELS..(i + n) * PIXELS], n, &mut bufs)?;
            out.extend(logits.chunks_exact(CLASSES).map(argmax));
            i += n;
        }
        Ok(out)
    }
}

/// Hyper-parameters of the deterministic training run.
pub struct Recipe {
    pub seed: u64,
    pub epochs: usize,
    pub lr: f32,
    pub batch: usize,
}

pub const RECIPE: Recipe = Recipe {
    seed: 2026,
    epochs: 12,
    lr: 0.05,
    batch: 32,
};

/// Loads the data set from the repository, splits 80/20, trains both models.
pub fn load_and_train(csv: &str, r: &Recipe) -> Result<(Data, Data, Vec<Net>), String> {
    let data = parse(csv)?;
    let (train, test) = split(&data, r.seed, 0.8);
    let mut nets = vec![mlp(r.seed + 1), cnn(r.seed + 2)];
    for net in nets.iter_mut() {
        net.train(&train, r.epochs, r.lr, r.batch, r.seed + 3);
    }
    Ok((train, test, nets))
}
