//! Everyday use: folders of images, `--output` in JSON lines and CSV, `embed` with its `.npy`
//! output, and body-only models (Google's uint8 embedding extractor).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::{mobilenet, root};

fn fixture(name: &str) -> PathBuf {
    root().join("crates/mobilenet/tests/fixtures").join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}: {}", o.status, text(&o.stderr));
    text(&o.stdout)
}

const EXTRACTOR: &str = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite";

/// A folder tree of 4 images (one without an extension) and 3 files that are not images
/// (one of them named `.jpg`).
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("b/c")).unwrap();
    let copy = |from: PathBuf, to: &str| std::fs::copy(from, d.join(to)).unwrap();
    copy(fixture("photos/parrot_224.webp"), "b/parrot.webp");
    copy(fixture("photos_224/cat.png"), "b/c/cat.png");
    copy(fixture("photos_224/bird.png"), "a_bird.png");
    copy(fixture("photos_224/sunflower.png"), "b/c/noext");
    std::fs::write(d.join("notes.txt"), "not an image").unwrap();
    std::fs::write(d.join("b/fake.jpg"), "also not an image").unwrap();
    std::fs::write(d.join("b/c/README.md"), "# hi").unwrap();
    dir
}

fn rel(dir: &Path, p: &str) -> String {
    Path::new(p)
        .strip_prefix(dir)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_folder_is_walked_recursively_in_sorted_order_skipping_non_images() {
    let dir = tree();
    let d = dir.path().to_str().unwrap();
    let o = mobilenet(&["predict", "--json", "--top", "1", d]);
    let out = ok(&o);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<String> = rows
        .iter()
        .map(|r| rel(dir.path(), r["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        ["a_bird.png", "b/c/cat.png", "b/c/noext", "b/parrot.webp"]
    );
    assert_eq!(rows[0]["top"][0]["label"], "chickadee");
    assert_eq!(rows[3]["top"][0]["label"], "macaw");
    let err = text(&o.stderr);
    assert!(err.contains("skipped 3 files"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_non_image_named_explicitly_is_still_an_error() {
    let dir = tree();
    let fake = dir.path().join("b/fake.jpg");
    let good = dir.path().join("a_bird.png");
    let o = mobilenet(&["predict", fake.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("fake.jpg") && !err.contains("panicked"),
        "{err}"
    );
    assert!(
        text(&o.stdout).contains("chickadee"),
        "the good image still runs"
    );
}

#[test]
fn a_folder_without_images_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.txt"), "text").unwrap();
    let o = mobilenet(&["predict", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("no images") && err.contains("1 files"),
        "{err}"
    );
}

#[test]
fn output_writes_json_lines_or_csv_to_a_file() {
    let dir = tree();
    let d = dir.path().to_str().unwrap();
    let json = dir.path().join("out.jsonl");
    let o = mobilenet(&[
        "predict",
        "--top",
        "2",
        "--output",
        json.to_str().unwrap(),
        d,
    ]);
    assert_eq!(ok(&o), "", "nothing on stdout with --output");
    let lines: Vec<Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["top"].as_array().unwrap().len(), 2);

    let csv = dir.path().join("out.csv");
    let o = mobilenet(&[
        "predict",
        "--top",
        "2",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
        d,
    ]);
    ok(&o);
    let body = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = body.lines().collect();
    assert_eq!(
        rows[0],
        "path,index_1,label_1,score_1,index_2,label_2,score_2"
    );
    assert_eq!(rows.len(), 5);
    // The bird's second label has a comma: quoted. The same classes and scores as the JSON.
    let bird = rows[1];
    assert!(
        bird.ends_with(&format!(
            ",20,chickadee,{},{},\"{}\",{}",
            lines[0]["top"][0]["score"],
            lines[0]["top"][1]["index"],
            lines[0]["top"][1]["label"].as_str().unwrap(),
            lines[0]["top"][1]["score"]
        )),
        "{bird} vs {}",
        lines[0]
    );
}

#[test]
fn embed_writes_npy_with_row_names_matching_the_json_output() {
    let dir = tree();
    let d = dir.path().to_str().unwrap();
    let npy = dir.path().join("emb.npy");
    let o = mobilenet(&["embed", "--output", npy.to_str().unwrap(), d]);
    assert_eq!(ok(&o), "");
    let (shape, data) = mobilenet::io::npy::read_f32(&npy).unwrap();
    assert_eq!(shape, vec![4, 1024]);
    let names = std::fs::read_to_string(dir.path().join("emb.txt")).unwrap();
    let names: Vec<String> = names.lines().map(|l| rel(dir.path(), l)).collect();
    assert_eq!(
        names,
        ["a_bird.png", "b/c/cat.png", "b/c/noext", "b/parrot.webp"]
    );

    let json = ok(&mobilenet(&["embed", "--json", d]));
    let rows: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for (i, r) in rows.iter().enumerate() {
        let e: Vec<f32> = r["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(&e[..], &data[i * 1024..(i + 1) * 1024], "row {i}");
        assert_eq!(rel(dir.path(), r["path"].as_str().unwrap()), names[i]);
    }
    // Post-ReLU6 averages: in [0, 6], not all zero.
    assert!(data.iter().all(|&v| (0.0..=6.0).contains(&v)));
    assert!(data.iter().any(|&v| v > 0.1));

    // numpy itself reads the file, where a Python with numpy is at hand.
    let script = format!(
        "import numpy as np; a = np.load(r'{}'); print(a.shape, a.dtype, float(a[2, 7]))",
        npy.display()
    );
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(o) if o.status.success() => {
            let want = format!("(4, 1024) float32 {}", data[2 * 1024 + 7] as f64);
            assert_eq!(text(&o.stdout).trim(), want);
        }
        // CI installs numpy and sets MOBILENET_REQUIRE_NUMPY, so that the check cannot vanish.
        _ if std::env::var_os("MOBILENET_REQUIRE_NUMPY").is_some() => {
            panic!("MOBILENET_REQUIRE_NUMPY is set but `python3 -c 'import numpy'` fails")
        }
        _ => println!("skipping the numpy check: no python3 with numpy"),
    }
}

#[test]
fn the_uint8_extractor_embeds_and_refuses_to_predict() {
    let model = fixture(EXTRACTOR);
    let m = model.to_str().unwrap();
    let photo = fixture("photos_224/parrot.png");
    let p = photo.to_str().unwrap();
    let out = ok(&mobilenet(&["embed", "--model", m, "--json", p]));
    let row: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["embedding"].as_array().unwrap().len(), 1024);

    let o = mobilenet(&["predict", "--model", m, p]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(EXTRACTOR) && err.contains("no classifier") && err.contains("embed"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let s = ok(&mobilenet(&["summary", "--model", m]));
    assert!(s.contains("no classifier (1024-d features)"), "{s}");
    assert!(!s.contains("fc "), "{s}");
    let b = ok(&mobilenet(&[
        "bench", "--model", m, "--iters", "2", "--json",
    ]));
    let b: Value = serde_json::from_str(b.trim()).unwrap();
    assert!(b["median_ms"].as_f64().unwrap() > 0.0);
}
