//! Issue 9, crash safety: `mobilenet train` killed with SIGKILL at arbitrary moments (during
//! an epoch, during evaluation, while a checkpoint is being written) and resumed each time.
//! After every kill the checkpoint on disk is either absent (killed before the first epoch
//! ended) or complete and at least as far as the one before: a kill loses at most the epoch in
//! progress. The run that was killed and resumed ends with the same weights, bit for bit, as
//! one that never stopped, and with one metrics line per epoch.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::cifar_bin;

const EPOCHS: u64 = 8;

fn train<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mobilenet"));
    cmd.arg("train")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The training state in `checkpoint.safetensors`'s header: (epoch, step in epoch), or an
/// error if the file is not a whole checkpoint.
fn checkpoint_position(path: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let n = u64::from_le_bytes(bytes.get(..8).ok_or("no header")?.try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(bytes.get(8..8 + n).ok_or("truncated header")?)
        .map_err(|e| e.to_string())?;
    // Every tensor's data must be in the file: a half-written one would end early.
    let end = header
        .as_object()
        .unwrap()
        .values()
        .filter_map(|t| t.get("data_offsets"))
        .map(|o| o[1].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    if bytes.len() as u64 != 8 + n as u64 + end {
        return Err(format!(
            "{} bytes, the header says {}",
            bytes.len(),
            8 + n as u64 + end
        ));
    }
    let state: Value = serde_json::from_str(
        header["__metadata__"]["mobilenet.train"]
            .as_str()
            .ok_or("no training state")?,
    )
    .map_err(|e| e.to_string())?;
    let pos = &state["position"];
    Ok((
        pos["epoch"].as_u64().unwrap(),
        pos["step_in_epoch"].as_u64().unwrap(),
    ))
}

#[test]
fn sigkill_at_random_moments_then_resume_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cifar_bin(&data, 8);
    let d = data.to_str().unwrap();
    let epochs = EPOCHS.to_string();
    let args = |out: &Path| {
        vec![
            "--data".to_string(),
            d.to_string(),
            "--variant".into(),
            "cifar".into(),
            "--alpha".into(),
            "0.25".into(),
            "--batch-size".into(),
            "8".into(),
            "--epochs".into(),
            epochs.clone(),
            "--seed".into(),
            "5".into(),
            "--threads".into(),
            "2".into(),
            "--quiet".into(),
            "--out".into(),
            out.to_str().unwrap().to_string(),
        ]
    };

    // The run that is never stopped, timed to spread the kills over a run's length.
    let straight = dir.path().join("straight");
    let a = args(&straight);
    let t0 = Instant::now();
    let o = train(&a).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let length = t0.elapsed();

    let killed = dir.path().join("killed");
    let first = args(&killed);
    let mut resume = vec!["--data", d, "--threads", "2", "--quiet", "--resume"];
    let killed_str = killed.to_str().unwrap();
    resume.push(killed_str);
    // Kill moments as fractions of the straight run, a fixed pseudo-random sequence.
    let mut x = 0x9e37_79b9_u64;
    let mut last = None;
    let mut kills = 0;
    let mut finished = false;
    for attempt in 0..12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = length.mul_f64(0.08 + (x % 1000) as f64 / 1000.0 * 0.3);
        let ckpt = killed.join("checkpoint.safetensors");
        let mut child = if ckpt.exists() {
            train(&resume).spawn().unwrap()
        } else {
            train(&first).spawn().unwrap()
        };
        let start = Instant::now();
        while start.elapsed() < after {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            assert!(status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            finished = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if ckpt.exists() {
            let pos = checkpoint_position(&ckpt)
                .unwrap_or_else(|e| panic!("kill {attempt}: half-written checkpoint: {e}"));
            assert!(
                Some(pos) >= last,
                "kill {attempt}: the checkpoint went back from {last:?} to {pos:?}"
            );
            last = Some(pos);
        }
        eprintln!("kill {attempt} after {after:?}: checkpoint at {last:?}");
    }
    assert!(
        kills >= 3,
        "only {kills} kills landed before the run finished"
    );
    if !finished {
        let o = train(&resume).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    let weights = |out: &Path| std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(
        weights(&straight) == weights(&killed),
        "after {kills} kills the resumed run's weights differ from the straight run's"
    );
    // What the kills left half-written was cleaned up by the runs that followed.
    let leftovers: Vec<String> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let metrics = std::fs::read_to_string(killed.join("metrics.jsonl")).unwrap();
    let epochs: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, (1..=EPOCHS).collect::<Vec<_>>(), "{metrics}");
}
