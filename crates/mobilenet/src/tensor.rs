//! The activation tensor: a batch of images in NHWC order, f32, row-major, owned.
//! Deliberately small: shapes are always `[N, H, W, C]` and everything else works on slices.

/// `shape = [N, H, W, C]`; element `(n, h, w, c)` is at `((n·H + h)·W + w)·C + c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn zeros(shape: [usize; 4]) -> Tensor {
        Tensor {
            shape,
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// Wraps `data`; panics if its length is not the product of `shape`.
    pub fn from_vec(shape: [usize; 4], data: Vec<f32>) -> Tensor {
        assert_eq!(
            data.len(),
            shape.iter().product::<usize>(),
            "Tensor::from_vec: {shape:?}"
        );
        Tensor { shape, data }
    }

    /// Batch size N.
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// Stacks equally shaped single images (each `(H, W, C)`) into one batch.
    pub fn stack(images: &[Tensor]) -> Tensor {
        assert!(!images.is_empty(), "Tensor::stack: no images");
        let [_, h, w, c] = images[0].shape;
        let mut data = Vec::with_capacity(images.len() * h * w * c);
        for im in images {
            assert_eq!(&im.shape[1..], &[h, w, c], "Tensor::stack: shapes differ");
            data.extend_from_slice(&im.data);
        }
        let n = data.len() / (h * w * c);
        Tensor::from_vec([n, h, w, c], data)
    }
}
