//! The training data pipeline: data sets from image folders and CIFAR-10 binary files,
//! augmentation, and the seeded batch loader.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use image::{Rgb, RgbImage};
use mobilenet::data::{
    render, Augment, ChannelNorm, Dataset, Loader, LoaderConfig, Scratch, Split, Window,
    CIFAR10_CLASSES,
};
use mobilenet::rng::Rng;
use mobilenet::Error;

// ---------------------------------------------------------------------------------------------
// Image folders

/// A lossless test image whose every byte tells where it is: red = column, green = row,
/// blue = `tag`.
fn pattern(h: u32, w: u32, tag: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 10) as u8, (y * 20) as u8, tag]))
}

fn write_png(path: &Path, h: u32, w: u32, tag: u8) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    pattern(h, w, tag).save(path).unwrap();
}

/// `root/{train,test}/{cat,dog}/` of 4 × 6 images, plus files that must be skipped.
fn image_folders(root: &Path) {
    for split in ["train", "test"] {
        let d = root.join(split);
        // Written out of name order: loading sorts.
        write_png(&d.join("dog/b.png"), 4, 6, 21);
        write_png(&d.join("dog/a.png"), 4, 6, 20);
        write_png(&d.join("cat/z.PNG"), 4, 6, 11);
        write_png(&d.join("cat/m.png"), 4, 6, 10);
        pattern(4, 6, 12).save(d.join("cat/n.jpg")).unwrap();
        fs::write(d.join("cat/notes.txt"), "not an image").unwrap();
        fs::write(d.join("dog/.hidden.jpg"), "resource fork, not an image").unwrap();
        fs::write(d.join("README"), "top-level file").unwrap();
    }
}

#[test]
fn image_folders_load_sorted_with_exact_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    let d = Dataset::open(tmp.path(), Split::Train, None).unwrap();
    assert_eq!(d.classes, ["cat", "dog"]);
    assert_eq!((d.h, d.w), (4, 6));
    // cat: m.png, n.jpg, z.PNG; dog: a.png, b.png. notes.txt and .hidden.jpg skipped.
    assert_eq!(d.labels, [0, 0, 0, 1, 1]);
    assert_eq!(d.images.len(), 5 * 4 * 6 * 3);
    assert_eq!(d.image(0), pattern(4, 6, 10).as_raw().as_slice());
    assert_eq!(d.image(2), pattern(4, 6, 11).as_raw().as_slice());
    assert_eq!(d.image(3), pattern(4, 6, 20).as_raw().as_slice());
    assert_eq!(d.image(4), pattern(4, 6, 21).as_raw().as_slice());
    // The JPEG is lossy but close.
    let jpeg_err = d
        .image(1)
        .iter()
        .zip(pattern(4, 6, 12).as_raw())
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max()
        .unwrap();
    assert!(jpeg_err < 40, "JPEG off by {jpeg_err}");
    assert_eq!(d.root, tmp.path().join("train"));

    let t = Dataset::open(tmp.path(), Split::Test, None).unwrap();
    assert_eq!(t.classes, d.classes);
    assert_eq!(t.len(), 5);

    // The class folders themselves open directly.
    let f = Dataset::open_folder(&tmp.path().join("train"), None).unwrap();
    assert_eq!(f, d);
}

#[test]
fn image_folders_resize_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    // Mixed sizes are fine when resizing.
    write_png(&tmp.path().join("train/dog/c.png"), 9, 5, 22);
    let d = Dataset::open(tmp.path(), Split::Train, Some((8, 12))).unwrap();
    assert_eq!((d.h, d.w, d.len()), (8, 12, 6));
    assert_eq!(d.images.len(), 6 * 8 * 12 * 3);
    // Blue is constant in each source image, so it stays exactly constant after resizing.
    assert!(d.image(5).chunks(3).all(|p| p[2] == 22));
    assert!(d.image(0).chunks(3).all(|p| p[2] == 10));
}

#[test]
fn mixed_sizes_without_resize_name_the_odd_file() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    write_png(&tmp.path().join("train/dog/c.png"), 9, 5, 22);
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if path.ends_with("dog/c.png")),
        "{e}"
    );
    assert!(e.to_string().contains("9×5"), "{e}");
}

#[test]
fn a_corrupt_image_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    fs::write(
        tmp.path().join("train/dog/broken.jpg"),
        b"\xFF\xD8\xFFtruncated",
    )
    .unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(matches!(e, Error::Image { .. }), "{e}");
    assert!(e.to_string().contains("broken.jpg"), "{e}");
}

#[test]
fn an_empty_class_folder_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    let empty = tmp.path().join("train/emu");
    fs::create_dir_all(&empty).unwrap();
    fs::write(empty.join("list.txt"), "no images here").unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == empty),
        "{e}"
    );
}

#[test]
fn no_images_at_all_is_an_error_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train");
    fs::create_dir_all(train.join("cat")).unwrap();
    fs::create_dir_all(train.join("dog")).unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == train),
        "{e}"
    );

    // Images without class folders.
    let flat = tmp.path().join("flat");
    write_png(&flat.join("a.png"), 2, 2, 0);
    let e = Dataset::open_folder(&flat, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == flat),
        "{e}"
    );
    assert!(e.to_string().contains("no class folders"), "{e}");

    // Neither layout.
    let e = Dataset::open(&flat, Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == flat),
        "{e}"
    );

    // A missing folder is an I/O error naming it.
    let gone = tmp.path().join("gone");
    let e = Dataset::open_folder(&gone, None).unwrap_err();
    assert!(
        matches!(e, Error::Io { ref path, .. } if *path == gone),
        "{e}"
    );
}

#[test]
fn test_classes_must_match_train() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    write_png(&tmp.path().join("test/emu/a.png"), 4, 6, 30);
    assert_eq!(
        Dataset::open(tmp.path(), Split::Train, None).unwrap().len(),
        5
    );
    let e = Dataset::open(tmp.path(), Split::Test, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == tmp.path().join("test")),
        "{e}"
    );
    assert!(e.to_string().contains("emu"), "{e}");
}

#[test]
fn subset_is_balanced_across_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train");
    for (class, n) in [("a", 6), ("b", 3), ("c", 5)] {
        for i in 0..n {
            write_png(&train.join(format!("{class}/{i}.png")), 2, 2, i as u8);
        }
    }
    let d = Dataset::open_folder(&train, None).unwrap();
    assert_eq!(d.class_counts(), [6, 3, 5]);
    let s = d.subset(9);
    assert_eq!(s.class_counts(), [3, 3, 3]);
    assert_eq!(s.classes, d.classes);
    assert_eq!(s.subset(9), s);
    let s = d.subset(11);
    assert_eq!(s.class_counts(), [4, 3, 4]);
    // The first images of each class, in order.
    assert_eq!(s.image(0), d.image(0));
    assert_eq!(s.image(4), d.image(6));
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 binary

/// Channel `c` of pixel `p` (row-major) of record `r` of file `f`.
fn cifar_value(f: usize, r: usize, c: usize, p: usize) -> u8 {
    (p * (c + 1) + 7 * r + 31 * f) as u8
}

fn cifar_file(f: usize, records: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in 0..records {
        bytes.push(((f * records + r) % 10) as u8);
        for c in 0..3 {
            for p in 0..1024 {
                bytes.push(cifar_value(f, r, c, p));
            }
        }
    }
    bytes
}

fn cifar_bin(dir: &Path, records: usize) {
    fs::create_dir_all(dir).unwrap();
    for f in 0..5 {
        fs::write(
            dir.join(format!("data_batch_{}.bin", f + 1)),
            cifar_file(f, records),
        )
        .unwrap();
    }
    fs::write(dir.join("test_batch.bin"), cifar_file(5, 2)).unwrap();
}

#[test]
fn cifar_binary_reads_planar_records_as_hwc() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    cifar_bin(&dir, 3);
    let names: Vec<String> = (0..10).map(|i| format!("class{i}")).collect();
    fs::write(dir.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();

    let d = Dataset::open(tmp.path(), Split::Train, None).unwrap();
    assert_eq!((d.len(), d.h, d.w), (15, 32, 32));
    assert_eq!(d.classes, names);
    assert_eq!(d.labels, (0..15).map(|i| i % 10).collect::<Vec<u32>>());
    for (i, (f, r)) in [(0, 0), (0, 2), (3, 1), (4, 2)].into_iter().enumerate() {
        let img = d.image(f * 3 + r);
        for (y, x) in [(0, 0), (0, 31), (5, 17), (31, 0), (31, 31)] {
            let p = y * 32 + x;
            for c in 0..3 {
                assert_eq!(
                    img[(y * 32 + x) * 3 + c],
                    cifar_value(f, r, c, p),
                    "case {i}: file {f} record {r} pixel ({y}, {x}) channel {c}"
                );
            }
        }
    }

    let t = Dataset::open(&dir, Split::Test, None).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.image(1)[3 * 40 + 2], cifar_value(5, 1, 2, 40));
}

#[test]
fn cifar_binary_without_meta_uses_the_cifar_names_and_resizes() {
    let tmp = tempfile::tempdir().unwrap();
    cifar_bin(tmp.path(), 1);
    let d = Dataset::open(tmp.path(), Split::Train, Some((64, 48))).unwrap();
    assert_eq!(d.classes, CIFAR10_CLASSES);
    assert_eq!((d.len(), d.h, d.w), (5, 64, 48));
    assert_eq!(d.images.len(), 5 * 64 * 48 * 3);
}

#[test]
fn broken_cifar_binaries_are_corrupt_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    cifar_bin(tmp.path(), 2);
    let f3 = tmp.path().join("data_batch_3.bin");
    let mut bytes = cifar_file(2, 2);
    bytes.pop();
    fs::write(&f3, &bytes).unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Corrupt { ref path, .. } if *path == f3),
        "{e}"
    );
    assert!(e.to_string().contains("3073"), "{e}");
    // The test split does not read it.
    assert_eq!(
        Dataset::open(tmp.path(), Split::Test, None).unwrap().len(),
        2
    );

    let mut bytes = cifar_file(2, 2);
    bytes[3073] = 10; // second record's label
    fs::write(&f3, &bytes).unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Corrupt { ref path, .. } if *path == f3),
        "{e}"
    );
    assert!(e.to_string().contains("record 1 has label 10"), "{e}");

    fs::remove_file(&f3).unwrap();
    let e = Dataset::open(tmp.path(), Split::Train, None).unwrap_err();
    assert!(
        matches!(e, Error::Dataset { ref path, .. } if *path == f3),
        "{e}"
    );

    let meta = tmp.path().join("batches.meta.txt");
    fs::write(&meta, "only\ntwo\n").unwrap();
    let e = Dataset::open(tmp.path(), Split::Test, None).unwrap_err();
    assert!(
        matches!(e, Error::Corrupt { ref path, .. } if *path == meta),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Augmentation

/// `n` images of `h × w` with distinct, position-dependent bytes; labels cycle over 3 classes.
fn synthetic(n: usize, h: usize, w: usize) -> Dataset {
    let images = (0..n * h * w * 3).map(|i| (i * 7 % 251) as u8).collect();
    let labels = (0..n).map(|i| (i % 3) as u32).collect();
    let classes = vec!["a".into(), "b".into(), "c".into()];
    Dataset::from_raw(images, labels, (h, w), classes).unwrap()
}

fn normalized(img: &[u8], norm: &ChannelNorm) -> Vec<f32> {
    img.iter()
        .enumerate()
        .map(|(i, &v)| (v as f32 - norm.mean[i % 3]) / norm.std[i % 3])
        .collect()
}

fn render_one(
    img: &[u8],
    hw: (usize, usize),
    win: Window,
    norm: &ChannelNorm,
    out_hw: (usize, usize),
) -> Vec<f32> {
    let mut out = vec![f32::NAN; out_hw.0 * out_hw.1 * 3];
    render(
        img,
        hw,
        &win,
        &norm.normalizer(),
        &mut out,
        out_hw,
        &mut Scratch::default(),
    );
    out
}

#[test]
fn normalization_math() {
    let n = ChannelNorm::CIFAR10;
    assert_eq!(n.mean[0], 0.4914 * 255.0);
    assert_eq!(n.std[2], 0.2616 * 255.0);
    assert_eq!(
        n.apply(255.0, 1),
        (255.0 - 0.4822 * 255.0) / (0.2435 * 255.0)
    );
    let s = ChannelNorm::scalar(127.5, 127.5);
    assert_eq!((s.apply(0.0, 0), s.apply(255.0, 2)), (-1.0, 1.0));
    assert_eq!(ChannelNorm::from(mobilenet::Normalization::TF), s);
    let t = n.normalizer();
    for v in [0u8, 1, 128, 255] {
        for c in 0..3 {
            assert_eq!(t.byte(v, c), (v as f32 - n.mean[c]) / n.std[c]);
        }
    }
}

#[test]
fn a_full_window_is_the_normalized_image_and_flip_mirrors_exactly() {
    let d = synthetic(1, 5, 7);
    let norm = ChannelNorm::CIFAR10;
    let id = render_one(d.image(0), (5, 7), Window::full(5, 7), &norm, (5, 7));
    assert_eq!(id, normalized(d.image(0), &norm));
    let flipped = render_one(
        d.image(0),
        (5, 7),
        Window {
            flip: true,
            ..Window::full(5, 7)
        },
        &norm,
        (5, 7),
    );
    for y in 0..5 {
        for x in 0..7 {
            for c in 0..3 {
                assert_eq!(flipped[(y * 7 + x) * 3 + c], id[(y * 7 + 6 - x) * 3 + c]);
            }
        }
    }
}

#[test]
fn padded_crops_shift_the_image_and_fill_normalized_black() {
    let d = synthetic(1, 6, 6);
    let norm = ChannelNorm::CIFAR10;
    let id = normalized(d.image(0), &norm);
    let black: Vec<f32> = (0..3).map(|c| norm.apply(0.0, c)).collect();
    for flip in [false, true] {
        // 2 rows of padding on top, 1 column on the left.
        let win = Window {
            top: -2,
            left: -1,
            height: 6,
            width: 6,
            flip,
        };
        let out = render_one(d.image(0), (6, 6), win, &norm, (6, 6));
        for y in 0..6 {
            for x in 0..6 {
                let wx = if flip { 5 - x } else { x }; // window column
                let (sy, sx) = (y as i64 - 2, wx as i64 - 1);
                for c in 0..3 {
                    let got = out[(y * 6 + x) * 3 + c];
                    let want = if sy < 0 || sx < 0 {
                        black[c]
                    } else {
                        id[((sy as usize) * 6 + sx as usize) * 3 + c]
                    };
                    assert_eq!(got, want, "flip {flip} ({y}, {x}) c{c}");
                }
            }
        }
    }
    // Entirely outside: all black.
    let out = render_one(
        d.image(0),
        (6, 6),
        Window {
            top: 9,
            left: 0,
            height: 6,
            width: 6,
            flip: false,
        },
        &norm,
        (6, 6),
    );
    assert!(out.chunks(3).all(|p| p == black.as_slice()));
}

#[test]
fn crop_offsets_stay_in_range_and_cover_it() {
    let aug = Augment::CropFlip { pad: 4 };
    let mut seen = [[false; 9]; 9];
    let mut flips = 0;
    for s in 0..2000 {
        let win = aug.window(32, 32, &mut Rng::stream(5, &[0, s]));
        assert!(
            (-4..=4).contains(&win.top) && (-4..=4).contains(&win.left),
            "{win:?}"
        );
        assert_eq!((win.height, win.width), (32, 32));
        seen[(win.top + 4) as usize][(win.left + 4) as usize] = true;
        flips += win.flip as usize;
    }
    assert!(seen.iter().flatten().all(|&s| s), "every offset occurs");
    assert!((850..1150).contains(&flips), "{flips} flips of 2000");
}

fn cfg(batch_size: usize, out_size: (usize, usize), augment: Augment) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        cutout: 0,
        out_size,
        augment,
        norm: ChannelNorm::CIFAR10,
        shuffle: true,
        drop_last: false,
        seed: 42,
    }
}

#[test]
fn cutout_zeroes_one_clipped_square_and_leaves_the_rest() {
    let d = Arc::new(synthetic(60, 8, 8));
    let c = LoaderConfig {
        cutout: 4,
        shuffle: false,
        ..cfg(20, (8, 8), Augment::None)
    };
    let loader = Loader::new(d.clone(), c.clone()).unwrap();
    let (mut full, mut clipped) = (0, 0);
    for b in loader.epoch(0, 0) {
        for (k, &i) in b.indices.iter().enumerate() {
            let got = &b.x[k * 192..(k + 1) * 192];
            let want = normalized(d.image(i), &ChannelNorm::CIFAR10);
            let mut zeroed = Vec::new();
            for p in 0..64 {
                let px = &got[p * 3..p * 3 + 3];
                if px == [0.0; 3] {
                    zeroed.push((p / 8, p % 8));
                } else {
                    assert_eq!(px, &want[p * 3..p * 3 + 3], "sample {i} pixel {p}");
                }
            }
            // The zeros form one rectangle of at most 4 × 4 (a clipped square).
            let (y0, y1) = (
                zeroed.iter().map(|z| z.0).min().unwrap(),
                zeroed.iter().map(|z| z.0).max().unwrap(),
            );
            let (x0, x1) = (
                zeroed.iter().map(|z| z.1).min().unwrap(),
                zeroed.iter().map(|z| z.1).max().unwrap(),
            );
            assert_eq!(zeroed.len(), (y1 - y0 + 1) * (x1 - x0 + 1), "sample {i}");
            assert!(y1 - y0 < 4 && x1 - x0 < 4, "sample {i}: {zeroed:?}");
            if zeroed.len() == 16 {
                full += 1;
            } else {
                clipped += 1;
            }
        }
    }
    assert!(
        full > 5 && clipped > 5,
        "{full} full squares, {clipped} clipped"
    );
    // Seeded: the same configuration gives the same batches; the test-time loader has none.
    let again = Loader::new(d.clone(), c.clone()).unwrap();
    assert_eq!(loader.batch(0, 1).x, again.batch(0, 1).x);
    let err = Loader::new(d, LoaderConfig { cutout: 9, ..c }).unwrap_err();
    assert!(err.to_string().contains("cutout 9"), "{err}");
}

#[test]
fn crop_flip_without_padding_is_the_image_or_its_mirror() {
    let d = Arc::new(synthetic(40, 4, 5));
    let loader = Loader::new(d.clone(), cfg(16, (4, 5), Augment::CropFlip { pad: 0 })).unwrap();
    let (mut same, mut mirrored) = (0, 0);
    for b in loader.epoch(0, 0) {
        for (k, &i) in b.indices.iter().enumerate() {
            let got = &b.x[k * 60..(k + 1) * 60];
            let id = normalized(d.image(i), &ChannelNorm::CIFAR10);
            let mut mirror = id.clone();
            for row in mirror.chunks_mut(15) {
                let px: Vec<[f32; 3]> = row.chunks(3).rev().map(|p| [p[0], p[1], p[2]]).collect();
                row.copy_from_slice(px.as_flattened());
            }
            if got == id.as_slice() {
                same += 1;
            } else {
                assert_eq!(got, mirror.as_slice(), "sample {i}");
                mirrored += 1;
            }
            assert_eq!(b.labels[k], d.labels[i]);
        }
    }
    assert_eq!(same + mirrored, 40);
    assert!(same > 5 && mirrored > 5, "{same} same, {mirrored} mirrored");

    // No augmentation is exactly the normalized image, in data set order without shuffle.
    let plain = Loader::new(
        d.clone(),
        LoaderConfig {
            shuffle: false,
            ..cfg(16, (4, 5), Augment::None)
        },
    )
    .unwrap();
    let b = plain.batch(0, 1);
    assert_eq!(b.indices, (16..32).collect::<Vec<_>>());
    assert_eq!(
        &b.x[..60],
        normalized(d.image(16), &ChannelNorm::CIFAR10).as_slice()
    );
}

#[test]
fn same_seed_same_batches_on_any_thread_count_and_epochs_differ() {
    let d = Arc::new(synthetic(50, 8, 8));
    let c = cfg(8, (8, 8), Augment::CropFlip { pad: 2 });
    let a = Loader::new(d.clone(), c.clone()).unwrap();
    let b = Loader::new(d.clone(), c.clone()).unwrap();
    let one: Vec<_> = mobilenet::with_threads(1, || a.epoch(3, 0).collect()).unwrap();
    let two: Vec<_> = mobilenet::with_threads(2, || b.epoch(3, 0).collect()).unwrap();
    assert_eq!(one.len(), 7);
    assert_eq!(one, two);
    for (k, batch) in one.iter().enumerate() {
        assert_eq!(*batch, a.batch(3, k));
    }
    // Each sample exactly once per epoch; the last batch is short.
    let mut seen: Vec<usize> = one.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(one[6].n, 2);
    assert_eq!(one[6].x.len(), 2 * 8 * 8 * 3);
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());

    assert_ne!(a.order(3), a.order(4));
    assert_ne!(a.batch(3, 0).indices, a.batch(4, 0).indices);
    let other_seed = Loader::new(
        d.clone(),
        LoaderConfig {
            seed: 43,
            ..c.clone()
        },
    )
    .unwrap();
    assert_ne!(other_seed.batch(3, 0), a.batch(3, 0));
    // Past the end: an empty batch.
    assert_eq!(a.batch(3, 7).n, 0);
}

#[test]
fn resuming_mid_epoch_gives_the_remaining_batches() {
    let d = Arc::new(synthetic(30, 6, 6));
    let loader = Loader::new(d, cfg(4, (6, 6), Augment::CropFlip { pad: 1 })).unwrap();
    let all: Vec<_> = loader.epoch(2, 0).collect();
    assert_eq!(all.len(), 8);
    let rest: Vec<_> = loader.epoch(2, 5).collect();
    assert_eq!(rest.len(), 3);
    assert_eq!(rest, all[5..]);
    assert_eq!(loader.epoch(2, 5).len(), 3);
    assert_eq!(loader.epoch(2, 8).count(), 0);
    assert_eq!(loader.epoch(2, 100).count(), 0);
}

#[test]
fn drop_last_and_dropping_the_iterator_early() {
    let d = Arc::new(synthetic(30, 6, 6));
    let loader = Loader::new(
        d.clone(),
        LoaderConfig {
            drop_last: true,
            ..cfg(4, (6, 6), Augment::None)
        },
    )
    .unwrap();
    assert_eq!(loader.batches_per_epoch(), 7);
    assert!(loader.epoch(0, 0).all(|b| b.n == 4));
    // Stop after one batch while the thread has more queued: the drop must not hang.
    for _ in 0..20 {
        let mut it = loader.epoch(1, 0);
        assert_eq!(it.next().unwrap().n, 4);
        assert_eq!(it.len(), 6);
        drop(loader.epoch(1, 0)); // before taking any
    }
    let keep = Loader::new(d, cfg(4, (6, 6), Augment::None)).unwrap();
    assert_eq!(keep.batches_per_epoch(), 8);
}

#[test]
fn resizing_to_a_larger_input() {
    // A constant image stays constant through the bilinear resize (32 → 64).
    let mut images = vec![0u8; 2 * 32 * 32 * 3];
    for (i, px) in images.chunks_mut(3).enumerate() {
        px.copy_from_slice(if i < 1024 {
            &[10, 200, 90]
        } else {
            &[255, 0, 128]
        });
    }
    let d = Arc::new(
        Dataset::from_raw(images, vec![0, 1], (32, 32), vec!["x".into(), "y".into()]).unwrap(),
    );
    let norm = ChannelNorm::CIFAR10;
    for aug in [
        Augment::None,
        Augment::CenterCrop { fraction: 0.875 },
        Augment::RandomResizedCrop { min_scale: 0.08 },
    ] {
        let loader = Loader::new(
            d.clone(),
            LoaderConfig {
                shuffle: false,
                ..cfg(2, (64, 64), aug)
            },
        )
        .unwrap();
        let b = loader.batch(0, 0);
        assert_eq!(b.x.len(), 2 * 64 * 64 * 3);
        for (k, want) in [[10.0, 200.0, 90.0], [255.0, 0.0, 128.0]]
            .iter()
            .enumerate()
        {
            for px in b.x[k * 64 * 64 * 3..(k + 1) * 64 * 64 * 3].chunks(3) {
                for c in 0..3 {
                    let w = norm.apply(want[c], c);
                    assert!((px[c] - w).abs() < 1e-4, "{aug:?}: {} vs {w}", px[c]);
                }
            }
        }
    }

    // A padded crop resized: the padding shows as a black band on the left.
    let img = vec![255u8; 32 * 32 * 3];
    let win = Window {
        top: 0,
        left: -4,
        height: 32,
        width: 32,
        flip: false,
    };
    let out = render_one(&img, (32, 32), win, &norm, (64, 64));
    let black = norm.apply(0.0, 0);
    let white = norm.apply(255.0, 0);
    assert!((out[0] - black).abs() < 1e-4); // column 0 is padding
    assert!((out[(10 * 64 + 40) * 3] - white).abs() < 1e-4);
}

#[test]
fn center_crop_of_the_whole_image_is_no_augmentation() {
    let d = Arc::new(synthetic(6, 10, 10));
    let a = Loader::new(d.clone(), cfg(3, (7, 7), Augment::None)).unwrap();
    let b = Loader::new(
        d.clone(),
        cfg(3, (7, 7), Augment::CenterCrop { fraction: 1.0 }),
    )
    .unwrap();
    assert_eq!(a.batch(0, 1), b.batch(0, 1));
    // A random resized crop at the data set's size yields finite values in the normalized range.
    let r = Loader::new(
        d,
        cfg(3, (10, 10), Augment::RandomResizedCrop { min_scale: 0.2 }),
    )
    .unwrap();
    let x = r.batch(0, 0).x;
    let (lo, hi) = (ChannelNorm::CIFAR10.apply(0.0, 0) - 1.0, 5.0);
    assert!(x.iter().all(|v| v.is_finite() && *v > lo && *v < hi));
}

#[test]
fn bad_loader_configurations_are_errors() {
    let d = Arc::new(synthetic(4, 4, 4));
    let bad = [
        cfg(0, (4, 4), Augment::None),
        cfg(2, (0, 4), Augment::None),
        cfg(2, (4, 4), Augment::RandomResizedCrop { min_scale: 0.0 }),
        cfg(2, (4, 4), Augment::CenterCrop { fraction: 1.5 }),
        LoaderConfig {
            norm: ChannelNorm::scalar(0.0, 0.0),
            ..cfg(2, (4, 4), Augment::None)
        },
    ];
    for c in bad {
        let e = Loader::new(d.clone(), c.clone()).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{c:?}: {e}");
    }
    // An empty data set has no batches.
    let empty = Arc::new(d.subset(0));
    let l = Loader::new(empty, cfg(2, (4, 4), Augment::None)).unwrap();
    assert_eq!(l.batches_per_epoch(), 0);
    assert_eq!(l.epoch(0, 0).count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Timing on the real data set, by hand:
// MOBILENET_CIFAR_DIR=/tmp/cifar10 cargo test --release -p mobilenet --test data -- --ignored --nocapture

#[test]
#[ignore = "needs CIFAR-10 (image folders or binary) at $MOBILENET_CIFAR_DIR"]
fn timing_on_real_cifar10() {
    use std::time::Instant;
    let root = std::env::var("MOBILENET_CIFAR_DIR").expect("set MOBILENET_CIFAR_DIR");
    let root = Path::new(&root);
    let threads = 2;
    let t = Instant::now();
    let (train, test) = mobilenet::with_threads(threads, || {
        (
            Dataset::open(root, Split::Train, None).unwrap(),
            Dataset::open(root, Split::Test, None).unwrap(),
        )
    })
    .unwrap();
    let load = t.elapsed();
    assert_eq!((train.len(), test.len()), (50_000, 10_000));
    assert_eq!(train.class_counts(), [5000; 10]);
    println!("load train+test on {threads} threads: {load:.2?}");

    let train = Arc::new(train);
    for (threads, out, aug) in [
        (1, (32, 32), Augment::CropFlip { pad: 4 }),
        (2, (32, 32), Augment::CropFlip { pad: 4 }),
        (1, (96, 96), Augment::CropFlip { pad: 4 }),
        (2, (96, 96), Augment::CropFlip { pad: 4 }),
        (2, (96, 96), Augment::RandomResizedCrop { min_scale: 0.35 }),
    ] {
        let loader = Loader::new(train.clone(), cfg(128, out, aug)).unwrap();
        let n = 100;
        let t = Instant::now();
        let total: usize =
            mobilenet::with_threads(threads, || (0..n).map(|k| loader.batch(0, k).n).sum())
                .unwrap();
        assert_eq!(total, n * 128);
        println!(
            "{aug:?} 32→{}, batch 128, {threads} thread(s): {:.3} ms per batch",
            out.0,
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    }
    let loader = Loader::new(
        train.clone(),
        cfg(128, (32, 32), Augment::CropFlip { pad: 4 }),
    )
    .unwrap();
    let t = Instant::now();
    let n = mobilenet::with_threads(2, || loader.epoch(0, 0).map(|b| b.n).sum::<usize>()).unwrap();
    assert_eq!(n, 50_000);
    println!(
        "whole epoch through the prefetch thread (2 threads): {:.2?}",
        t.elapsed()
    );
}
