//! The `devarch` binary: parse → run → exit code.
fn main() -> std::process::ExitCode {
    devarch::cli::main()
}
