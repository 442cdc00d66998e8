//! Container output, commands run inside containers and waiting for containers to stop, over
//! bollard: [`logs`] (`GET
//! /containers/{id}/logs`) and [`exec`] (`POST /containers/{id}/exec`, then `/exec/{id}/start`
//! upgraded to a raw stream). Both engines serve them through the compat API; Podman reads
//! the logs from its `k8s-file` log driver.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{LogsOptions, ResizeExecOptions};
use futures_util::StreamExt;

use super::engine::engine_error;
use super::{ExecSession, LogOptions, OutputChunk, OutputStream, Pipe, Result, RuntimeError};

/// A bollard output item as an [`OutputChunk`] (`None` for echoed input).
fn chunk(item: LogOutput) -> Option<OutputChunk> {
    let (pipe, bytes) = match item {
        LogOutput::StdOut { message } | LogOutput::Console { message } => (Pipe::Stdout, message),
        LogOutput::StdErr { message } => (Pipe::Stderr, message),
        LogOutput::StdIn { .. } => return None,
    };
    Some(OutputChunk {
        pipe,
        bytes: bytes.to_vec(),
    })
}

/// A bollard output stream as an [`OutputStream`], errors named after `verb` and `what`.
fn output(
    stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send + 'static,
    verb: &'static str,
    what: String,
) -> OutputStream {
    Box::pin(stream.filter_map(move |item| {
        let what = what.clone();
        async move {
            match item {
                Ok(item) => chunk(item).map(Ok),
                Err(e) => Some(Err(engine_error(verb, &what, e))),
            }
        }
    }))
}

/// [`super::Runtime::logs`].
pub(super) fn logs(docker: &Docker, id: &str, options: &LogOptions) -> OutputStream {
    let query = LogsOptions {
        follow: options.follow,
        stdout: true,
        stderr: true,
        since: options
            .since
            .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
        until: 0,
        timestamps: options.timestamps,
        tail: options
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string()),
    };
    let stream = docker.logs(id, Some(query));
    output(stream, "read the logs of", format!("container {id}"))
}

/// [`super::Runtime::exec`].
pub(super) async fn exec(
    docker: &Docker,
    id: &str,
    cmd: &[String],
    tty: bool,
) -> Result<ExecSession> {
    let what = format!("container {id}");
    let config = ExecConfig {
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        cmd: Some(cmd.to_vec()),
        ..Default::default()
    };
    let created = docker
        .create_exec(id, config)
        .await
        .map_err(|e| engine_error("run a command in", &what, e))?;
    let options = StartExecOptions {
        detach: false,
        tty,
        output_capacity: None,
    };
    let started = docker
        .start_exec(&created.id, Some(options))
        .await
        .map_err(|e| engine_error("start a command in", &what, e))?;
    match started {
        StartExecResults::Attached { output: out, input } => Ok(ExecSession {
            id: created.id,
            output: output(out, "read the output of a command in", what),
            input,
        }),
        StartExecResults::Detached => Err(RuntimeError::Api {
            operation: format!("start a command in {what}"),
            status: None,
            message: "the engine did not attach to it".into(),
        }),
    }
}

/// [`super::Runtime::exec_exit_code`].
pub(super) async fn exec_exit_code(docker: &Docker, exec_id: &str) -> Result<Option<i64>> {
    let inspected = docker
        .inspect_exec(exec_id)
        .await
        .map_err(|e| engine_error("inspect", &format!("exec {exec_id}"), e))?;
    Ok(match inspected.running {
        Some(true) => None,
        _ => inspected.exit_code,
    })
}

/// [`super::Runtime::resize_exec`].
pub(super) async fn resize_exec(
    docker: &Docker,
    exec_id: &str,
    rows: u16,
    cols: u16,
) -> Result<()> {
    let options = ResizeExecOptions {
        h: i32::from(rows),
        w: i32::from(cols),
    };
    docker
        .resize_exec(exec_id, options)
        .await
        .map_err(|e| engine_error("resize", &format!("exec {exec_id}"), e))
}

/// [`super::Runtime::wait_container`].
pub(super) async fn wait_container(docker: &Docker, id: &str) -> Result<i64> {
    let mut waits =
        docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    match waits.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        // Docker reports a non-zero exit as an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(engine_error("wait for", &format!("container {id}"), e)),
        None => Err(RuntimeError::Api {
            operation: format!("wait for container {id}"),
            status: None,
            message: "the engine closed the wait without an exit code".into(),
        }),
    }
}
