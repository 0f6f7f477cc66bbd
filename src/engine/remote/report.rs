//! What a remote run records besides the load, and its lines in the
//! report.

use serde::{Deserialize, Serialize};

use super::{
    stats::{self, ServerStatsReport},
    types::{ModelMetadata, ServerInfo},
};
use crate::engine::target::RemoteTarget;

/// What a remote run records besides the load: the server, the model's
/// metadata, how requests were encoded and the server-side statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteReport {
    pub server: ServerInfo,
    pub metadata: ModelMetadata,
    /// `grpc raw`, `rest binary` or `rest json`.
    pub encoding: String,
    /// The server's statistics per window, or why there are none.
    pub server_stats: ServerStatsReport,
    /// The run stopped early after a burst of failed requests.
    pub stopped_on_failures: bool,
}

/// The report's lines on a remote target: the target, the server and its
/// model, the encoding and the server's times beside the client's mean
/// end-to-end time. Empty for a local run.
pub fn report_text(
    target: Option<&RemoteTarget>,
    report: Option<&RemoteReport>,
    client_mean_micros: Option<f64>,
) -> String {
    let Some(target) = target else {
        return String::new();
    };
    let mut text = format!("Target      {}\n", target.describe());
    if let Some(report) = report {
        let server = &report.server;
        if !server.name.is_empty() {
            text.push_str(&format!(
                "Server      {} {}{}; requests as {}\n",
                server.name,
                server.version,
                if server.extensions.is_empty() {
                    String::new()
                } else {
                    format!(" (extensions: {})", server.extensions.join(", "))
                },
                if report.encoding.is_empty() {
                    "-"
                } else {
                    &report.encoding
                },
            ));
        }
        text.push_str(&format!(
            "Server time {}\n",
            stats::render(&report.server_stats, client_mean_micros)
        ));
        if report.stopped_on_failures {
            text.push_str(
                "Stopped     early: a burst of failed requests (the server stopped answering)\n",
            );
        }
    }
    text
}
