//! Commands for writing scenarios: `thaw validate`, `thaw config`,
//! `thaw new`, `thaw completions` and `thaw man`.
use crate::style::Style;
use clap::{Args, CommandFactory, ValueEnum};
use std::io::Write;
use std::process::ExitCode;
use thaw_scenario::{load_with, Override};

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

#[derive(Args)]
pub(crate) struct ValidateArgs {
    /// Scenario files (TOML); `-` reads one from standard input.
    #[arg(required = true)]
    files: Vec<String>,
}

/// `thaw validate`: every problem of every file, nothing run. Exit 0 when
/// every file is valid, 2 otherwise.
pub(crate) fn cmd_validate(args: &ValidateArgs, style: Style) -> ExitCode {
    let mut bad = 0usize;
    for file in &args.files {
        let name = if file == "-" {
            "<stdin>"
        } else {
            file.as_str()
        };
        let text = match crate::read_scenario(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{} {e}", style.error("error:"));
                bad += 1;
                continue;
            }
        };
        match load_with(name, &text, &[]) {
            Ok(s) => {
                if !s.warnings.is_empty() {
                    eprint!(
                        "{}",
                        style.diagnostics(&s.warnings.render(&text).replace("  × ", "  ⚠ "))
                    );
                }
                let note = match s.warnings.len() {
                    0 => String::new(),
                    n => format!(" ({n} warning{})", if n == 1 { "" } else { "s" }),
                };
                println!("{} {name}{note}", style.ok("ok"));
            }
            Err(err) => {
                eprint!("{}", style.diagnostics(&err.render()));
                eprintln!(
                    "{} `{name}` {}",
                    style.error("error:"),
                    err.diagnostics.summary()
                );
                println!("{} {name}", style.fail("invalid"));
                bad += 1;
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

#[derive(Args)]
pub(crate) struct ConfigArgs {
    /// The scenario file (TOML); `-` reads it from standard input.
    file: String,
    /// Override a value by its dotted path, e.g. server.idle_timeout=310s
    /// (its source is then `--set`).
    #[arg(long = "set", value_name = "PATH=VALUE", add = key_completer(true))]
    sets: Vec<String>,
    /// Remove a key the file writes (its default or preset value applies).
    /// Applied in order with --set.
    #[arg(long = "unset", value_name = "PATH", add = key_completer(false))]
    unsets: Vec<String>,
    /// toml: a scenario `thaw run` accepts as it is, each key's source in a
    /// comment after it; json: the keys with their values and sources, for
    /// tools.
    #[arg(long, value_enum, default_value_t = ConfigFormat::Toml)]
    format: ConfigFormat,
}

/// What `thaw config` prints.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ConfigFormat {
    Toml,
    Json,
}

/// `thaw config`: the fully resolved scenario. Exit 0, 2 when the file
/// does not load (its diagnostics, as `thaw run` gives them), 4 when the
/// output cannot be written.
pub(crate) fn cmd_config(args: &ConfigArgs, overrides: &[Override], style: Style) -> ExitCode {
    let file = args.file.as_str();
    let name = if file == "-" { "<stdin>" } else { file };
    let text = match crate::read_scenario(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{} {e}", style.error("error:"));
            return ExitCode::from(2);
        }
    };
    let resolved = match thaw_scenario::resolve(name, &text, overrides) {
        Ok(r) => r,
        Err(err) => {
            eprint!("{}", style.diagnostics(&err.render()));
            eprintln!(
                "{} `{name}` {}",
                style.error("error:"),
                err.diagnostics.summary()
            );
            return ExitCode::from(2);
        }
    };
    if !resolved.warnings.is_empty() {
        eprint!(
            "{}",
            style.diagnostics(&resolved.warnings.render(&text).replace("  × ", "  ⚠ "))
        );
    }
    let out = match args.format {
        ConfigFormat::Toml => resolved.toml(),
        ConfigFormat::Json => {
            let mut j = serde_json::to_string_pretty(&resolved.json()).unwrap_or_default();
            j.push('\n');
            j
        }
    };
    write_stdout(out.as_bytes())
}

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The new scenario's name: writes NAME.toml (or NAME if it ends in
    /// .toml) in the current directory, with `scenario.name = NAME`.
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// The bundled scenario to start from (see --list), e.g.
    /// seeds/upstash-etimedout or just upstash-etimedout.
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_TEMPLATE)]
    from: String,
    /// List the bundled scenarios with their one-line descriptions.
    #[arg(long, conflicts_with = "name")]
    list: bool,
    /// Overwrite the file if it exists.
    #[arg(long)]
    force: bool,
}

/// The template `thaw new` starts from without `--from`.
const DEFAULT_TEMPLATE: &str = "seeds/upstash-etimedout";

/// The bundled scenario `name` names: its path without `.toml`, or a bare
/// file name when only one has it.
fn find_template(name: &str) -> Result<(&'static str, &'static str), String> {
    let name = name.trim_end_matches(".toml");
    if let Some(&(p, t)) = BUNDLED
        .iter()
        .find(|(p, _)| p.trim_end_matches(".toml") == name)
    {
        return Ok((p, t));
    }
    let by_stem: Vec<&(&str, &str)> = BUNDLED
        .iter()
        .filter(|(p, _)| p.rsplit('/').next().map(|f| f.trim_end_matches(".toml")) == Some(name))
        .collect();
    match by_stem.as_slice() {
        [&(p, t)] => Ok((p, t)),
        [] => {
            let full = |p: &'static str| p.trim_end_matches(".toml");
            let stem = |p: &'static str| full(p).rsplit('/').next().unwrap_or(p);
            // A near miss of the whole path, or of the file name alone.
            let hint = thaw_core::did_you_mean(name, BUNDLED.iter().map(|(p, _)| full(p)))
                .map(|c| c.to_string())
                .or_else(|| {
                    let s = thaw_core::did_you_mean(name, BUNDLED.iter().map(|(p, _)| stem(p)))?;
                    BUNDLED
                        .iter()
                        .find(|(p, _)| stem(p) == s)
                        .map(|(p, _)| full(p).to_string())
                })
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            Err(format!(
                "no bundled scenario is named `{name}`{hint} (`thaw new --list` shows them)"
            ))
        }
        many => Err(format!(
            "`{name}` names {} bundled scenarios: {}; give its directory too",
            many.len(),
            many.iter()
                .map(|(p, _)| p.trim_end_matches(".toml"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The first line of a scenario's `scenario.description` (or its first
/// comment line), whitespace collapsed.
pub(crate) fn one_line(text: &str) -> String {
    let desc = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| {
            t.get("scenario")?
                .get("description")?
                .as_str()
                .map(str::to_string)
        })
        .or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("# ").map(str::to_string))
        })
        .unwrap_or_default();
    let words: Vec<&str> = desc.split_whitespace().collect();
    let mut s = words.join(" ");
    // The first sentence, within about a line.
    if let Some(i) = s.find(". ") {
        s.truncate(i + 1);
    }
    if s.chars().count() > 110 {
        s = s.chars().take(107).collect::<String>() + "...";
    }
    s
}

pub(crate) fn cmd_new(args: &NewArgs) -> ExitCode {
    if args.list {
        let mut out = std::io::stdout().lock();
        for (p, t) in BUNDLED {
            let name = p.trim_end_matches(".toml");
            let _ = writeln!(out, "{name:<58} {}", one_line(t));
        }
        return ExitCode::SUCCESS;
    }
    let Some(name) = args.name.as_deref() else {
        return ExitCode::from(2);
    };
    let (from, text) = match find_template(&args.from) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let path = if name.ends_with(".toml") {
        name.to_string()
    } else {
        format!("{name}.toml")
    };
    let stem = std::path::Path::new(&path)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| name.to_string());
    let text = match rename(text, &stem, from) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let open = if args.force {
        std::fs::File::create(&path)
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
    };
    let mut f = match open {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: `{path}` exists; choose another name or pass --force to overwrite it"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot create `{path}`: {e}");
            return ExitCode::from(4);
        }
    };
    if let Err(e) = f.write_all(text.as_bytes()) {
        eprintln!("error: cannot write `{path}`: {e}");
        return ExitCode::from(4);
    }
    println!(
        "wrote {path} from {}; run it with: thaw run {}",
        from.trim_end_matches(".toml"),
        crate::shell_quote(&path)
    );
    ExitCode::SUCCESS
}

/// The template with `scenario.name` set to `name`, and a first comment
/// line saying where it came from; everything else, comments included,
/// as it was.
fn rename(text: &str, name: &str, from: &str) -> Result<String, String> {
    // The bundled file's `#:schema` path is relative to the repository;
    // the new file gets a hint instead.
    let text = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#:schema ") => rest,
        _ => text,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("the bundled scenario {from} does not parse: {e}"))?;
    if let Some(t) = doc.get_mut("scenario").and_then(|s| s.as_table_like_mut()) {
        t.insert("name", toml_edit::value(name));
    }
    Ok(format!(
        "# Started from thaw's bundled scenario {} (`thaw new --from {}`).\n# Editor checks: `thaw schema > thaw-scenario.schema.json`, then make the\n# first line `#:schema ./thaw-scenario.schema.json` (docs/scenario-format.md).\n{doc}",
        from,
        from.trim_end_matches(".toml")
    ))
}

/// Completes a scenario key path after `--set`, `--unset` or `--vary`
/// (dynamic completion: `COMPLETE=bash thaw`); with `eq`, the path is
/// followed by `=`.
pub(crate) fn key_completer(eq: bool) -> clap_complete::engine::ArgValueCompleter {
    clap_complete::engine::ArgValueCompleter::new(move |current: &std::ffi::OsStr| {
        let cur = current.to_string_lossy();
        if eq && cur.contains('=') {
            return Vec::new();
        }
        thaw_scenario::schema::key_paths()
            .into_iter()
            .filter(|k| k.starts_with(cur.as_ref()))
            .map(|k| {
                let shown = if eq { format!("{k}=") } else { k };
                clap_complete::engine::CompletionCandidate::new(shown)
            })
            .collect()
    })
}

/// `thaw schema`: the scenario format's JSON Schema (the bytes of
/// docs/thaw-scenario.schema.json).
pub(crate) fn cmd_schema() -> ExitCode {
    write_stdout(thaw_scenario::schema::schema_text().as_bytes())
}

/// Writes `bytes` to standard output; a closed pipe is not an error (the
/// reader had enough), another failure is exit 4.
fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::from(4)
        }
    }
}

/// Shells `thaw completions` writes a script for.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub(crate) fn cmd_completions(args: &CompletionsArgs) -> ExitCode {
    use clap_complete::Shell as S;
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut cmd = crate::Cli::command();
    // Into memory first: clap_complete panics on a write error (a closed
    // pipe), and thaw never panics.
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "thaw", &mut buf);
    write_stdout(&buf)
}

#[derive(Args)]
pub(crate) struct ManArgs {
    /// Write thaw.1 and a page per subcommand (thaw-run.1, ...) into this
    /// directory instead of printing thaw.1.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<std::path::PathBuf>,
}

pub(crate) fn cmd_man(args: &ManArgs) -> ExitCode {
    let cmd = crate::Cli::command();
    match &args.out_dir {
        None => {
            let mut buf = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut buf) {
                eprintln!("error: cannot render the man page: {e}");
                return ExitCode::from(4);
            }
            return write_stdout(&buf);
        }
        Some(dir) => {
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir))
            {
                eprintln!("error: cannot write man pages into {}: {e}", dir.display());
                return ExitCode::from(4);
            }
            println!("wrote man pages into {}", dir.display());
        }
    }
    ExitCode::SUCCESS
}
