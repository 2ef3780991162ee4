//! Sweep output files: resuming an interrupted sweep, and merging shards
//! into exactly the bytes an unsharded sweep writes.
use crate::sweep::{record_key, Format, Runs, Shard, Sweep};
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An output file ready for this shard's remaining records.
pub struct Resumed {
    /// Open for appending, after the last complete record.
    pub file: File,
    /// Records of this shard already there.
    pub done: usize,
}

/// Opens `path` for `sweep`'s shard: new, or resumed after its last
/// complete record (a line cut by an interruption is dropped). Refuses a
/// file that holds another sweep's records, or records out of order.
pub fn open_resumable(
    path: &Path,
    sweep: &Sweep,
    shard: Shard,
    runs: Runs,
) -> Result<Resumed, String> {
    let shown = path.display();
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        // A device or a pipe (/dev/null, /dev/stdout): nothing to resume.
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open `{shown}`: {e}"))?;
        if let Some(h) = sweep.header() {
            writeln!(file, "{h}").map_err(|e| format!("cannot write `{shown}`: {e}"))?;
        }
        return Ok(Resumed { file, done: 0 });
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open `{shown}`: {e}"))?;
    let mut reader = BufReader::new(&mut file);
    let mut keep: u64 = 0;
    let mut done = 0usize;
    let mut line = String::new();
    let header = sweep.header();
    let mut first = true;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        if n == 0 || !line.ends_with('\n') {
            break; // the end, or a line an interruption cut short
        }
        let body = line.trim_end_matches('\n');
        if first {
            first = false;
            if let Some(h) = &header {
                if body != h {
                    return Err(format!(
                        "`{shown}` is not this sweep's CSV (its header differs): choose another --out, or delete it to start over"
                    ));
                }
                keep += n as u64;
                continue;
            }
        }
        let Some((id, run, _)) = record_key(body) else {
            return Err(format!(
                "`{shown}` holds a line that is not a sweep record: choose another --out"
            ));
        };
        if id != sweep.id() {
            return Err(format!(
                "`{shown}` holds records of another sweep ({id}, this one is {}): choose another --out, or delete it to start over",
                sweep.id()
            ));
        }
        if runs.get(done as u64) != Some(run) {
            return Err(format!(
                "`{shown}` holds run {run} where shard {}/{} expects {}: it was not written by this sweep and shard",
                shard.k,
                shard.n,
                runs.get(done as u64).map_or("no more runs".to_string(), |r| format!("run {r}"))
            ));
        }
        done += 1;
        keep += n as u64;
    }
    drop(reader);
    file.set_len(keep)
        .and_then(|_| file.seek(SeekFrom::End(0)))
        .map_err(|e| format!("cannot write `{shown}`: {e}"))?;
    if keep == 0 {
        if let Some(h) = header {
            writeln!(file, "{h}").map_err(|e| format!("cannot write `{shown}`: {e}"))?;
        }
    }
    Ok(Resumed { file, done })
}

/// One shard file being merged.
struct Input {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
}

/// Merges shard files into `out`: the bytes the unsharded sweep writes.
/// Refuses shards of different sweeps, a shard given twice, a missing
/// shard, and a shard whose sweep was interrupted. Returns the number of
/// records.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<u64, String> {
    let tmp = out.with_extension("merge-partial");
    let r = merge_into(out, &tmp, shards);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn merge_into(out: &Path, tmp: &Path, shards: &[PathBuf]) -> Result<u64, String> {
    if shards.is_empty() {
        return Err("no shard files given".into());
    }
    for s in shards {
        if same_file(out, s) {
            return Err(format!(
                "OUT `{}` is also a shard: write the merge to another file",
                out.display()
            ));
        }
    }
    let mut inputs = Vec::new();
    let mut header: Option<(String, PathBuf)> = None;
    for path in shards {
        let open =
            || File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()));
        // Its own handle: a clone would share (and move) the read position.
        let first_byte = BufReader::new(open()?)
            .fill_buf()
            .map(|b| b.first().copied())
            .unwrap_or(None);
        let f = open()?;
        let mut input = Input {
            path: path.clone(),
            lines: BufReader::new(f).lines(),
        };
        if first_byte.is_some_and(|b| b != b'{') {
            // CSV: the header must be the same in every shard.
            let h = input
                .lines
                .next()
                .transpose()
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
                .unwrap_or_default();
            match &header {
                None => header = Some((h, path.clone())),
                Some((h0, p0)) if *h0 != h => {
                    return Err(format!(
                        "`{}` and `{}` have different CSV headers: shards of different sweeps",
                        p0.display(),
                        path.display()
                    ))
                }
                Some(_) => {}
            }
        } else if let Some((_, p0)) = &header {
            return Err(format!(
                "`{}` is CSV and `{}` is JSON lines: shards of different sweeps",
                p0.display(),
                path.display()
            ));
        }
        inputs.push(input);
    }
    // Every file must end with a line break: a cut line means an
    // interrupted shard.
    for i in &inputs {
        let bytes = std::fs::read(&i.path).map_err(|e| e.to_string())?;
        if bytes.last().is_some_and(|b| *b != b'\n') {
            return Err(format!(
                "`{}` ends in the middle of a record: its sweep was interrupted; run it again with the same --out to finish it",
                i.path.display()
            ));
        }
    }
    let mut w = std::io::BufWriter::new(
        File::create(tmp).map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?,
    );
    let write_err = |e: std::io::Error| format!("cannot write `{}`: {e}", tmp.display());
    if let Some((h, _)) = &header {
        writeln!(w, "{h}").map_err(write_err)?;
    }
    // k-way merge by run number: each shard is in run order.
    let mut heap = BinaryHeap::new();
    let mut sweep: Option<(String, u64, PathBuf)> = None;
    let next =
        |i: usize, inputs: &mut Vec<Input>| -> Result<Option<(u64, String, String)>, String> {
            let input = &mut inputs[i];
            match input.lines.next() {
                None => Ok(None),
                Some(Err(e)) => Err(format!("cannot read `{}`: {e}", input.path.display())),
                Some(Ok(line)) => {
                    let (id, run, of) = record_key(&line).ok_or_else(|| {
                        format!(
                            "`{}` holds a line that is not a sweep record",
                            input.path.display()
                        )
                    })?;
                    Ok(Some((run, format!("{id}/{of}"), line)))
                }
            }
        };
    for i in 0..inputs.len() {
        if let Some((run, key, line)) = next(i, &mut inputs)? {
            heap.push(std::cmp::Reverse((run, i, key, line)));
        }
    }
    let mut expected = 0u64;
    let mut last_from: Option<usize> = None;
    while let Some(std::cmp::Reverse((run, i, key, line))) = heap.pop() {
        let (id, of) = key.split_once('/').expect("made above");
        let of: u64 = of.parse().expect("made above");
        match &sweep {
            None => sweep = Some((id.to_string(), of, inputs[i].path.clone())),
            Some((id0, _, p0)) if id0 != id => {
                return Err(format!(
                    "`{}` (sweep {id0}) and `{}` (sweep {id}) are shards of different sweeps",
                    p0.display(),
                    inputs[i].path.display()
                ))
            }
            Some(_) => {}
        }
        if run < expected {
            return Err(format!(
                "run {run} is in `{}` and `{}`: the same shard given twice?",
                inputs[last_from.unwrap_or(i)].path.display(),
                inputs[i].path.display()
            ));
        }
        if run > expected {
            return Err(missing(expected, run, of));
        }
        writeln!(w, "{line}").map_err(write_err)?;
        expected += 1;
        last_from = Some(i);
        if let Some((run, key, line)) = next(i, &mut inputs)? {
            heap.push(std::cmp::Reverse((run, i, key, line)));
        }
    }
    let of = sweep.as_ref().map_or(0, |s| s.1);
    if expected < of {
        return Err(missing(expected, of, of));
    }
    w.flush().map_err(write_err)?;
    drop(w);
    std::fs::rename(tmp, out).map_err(|e| format!("cannot write `{}`: {e}", out.display()))?;
    Ok(expected)
}

fn missing(from: u64, to: u64, of: u64) -> String {
    let which = if to <= from + 1 {
        format!("run {from} of {of} is missing")
    } else {
        format!("runs {from} to {} of {of} are missing", to - 1)
    };
    format!(
        "{which}: a shard is missing or unfinished (shard K of N holds the runs with run mod N = K-1)"
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The format of an existing sweep file, from its first byte.
pub fn format_of(first_line: &str) -> Format {
    if first_line.starts_with('{') {
        Format::Jsonl
    } else {
        Format::Csv
    }
}
