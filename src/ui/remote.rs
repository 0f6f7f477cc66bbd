//! The start page's "Remote server" choice: a URL, then the models of the
//! server's repository index where it offers one (else a typed model
//! name), then the model's metadata. Once chosen, runs and sweeps go to
//! that model on the server (with the open local model, if any, for
//! shapes), and the Model tab shows the server's metadata.
//!
//! Talking to the server happens on a `wb-ui-remote` thread; the panel
//! polls its answer once per frame.

use crossbeam_channel::{Receiver, TryRecvError};
use egui::{RichText, Ui};

use super::theme;
use crate::engine::{
    headers::Headers,
    remote::{Client, IndexEntry, ModelMetadata, ServerInfo},
    target::RemoteTarget,
};

/// What the server said.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The target as probed (the model name may be empty).
    pub target: RemoteTarget,
    pub server: ServerInfo,
    /// The repository index; `None` when the server does not offer one.
    pub index: Option<Vec<IndexEntry>>,
    /// The model's metadata, when a model name was given and it is ready.
    pub metadata: Option<ModelMetadata>,
}

/// The panel's state.
#[derive(Default)]
pub struct RemotePanel {
    url: String,
    model_name: String,
    /// `(key, value)` rows: sent on every call, never saved (the panel is
    /// not part of the remembered settings), the value shown masked.
    headers: Vec<(String, String)>,
    /// The server's Prometheus endpoint (the runs' `--metrics-url`).
    metrics_url: String,
    pending: Option<Receiver<Result<Probe, String>>>,
    probe: Option<Probe>,
    error: Option<String>,
    /// Runs go to the server.
    active: bool,
}

/// Connects, checks readiness, reads the server, the index and (with a
/// model name) the model's metadata.
fn probe(target: RemoteTarget) -> Result<Probe, String> {
    let mut client = Client::connect(&target, None).map_err(|err| err.to_string())?;
    let server = client.server_info().map_err(|err| err.to_string())?;
    let index = client.repository_index().ok().flatten();
    let metadata = if target.model_name.is_empty() {
        None
    } else {
        client.check_ready(&target).map_err(|err| err.to_string())?;
        Some(client.model_metadata().map_err(|err| err.to_string())?)
    };
    Ok(Probe {
        target,
        server,
        index,
        metadata,
    })
}

impl RemotePanel {
    /// The target runs go to, once a model with metadata is chosen.
    /// Stops sending runs to the server (a local model was opened);
    /// true when they were going there.
    pub fn deactivate(&mut self) -> bool {
        std::mem::replace(&mut self.active, false)
    }

    pub fn target(&self) -> Option<RemoteTarget> {
        let probe = self.probe.as_ref()?;
        (self.active && probe.metadata.is_some()).then(|| probe.target.clone())
    }

    /// The metrics URL runs to the server scrape, when one is typed.
    pub fn metrics_url(&self) -> Option<String> {
        self.target()?;
        Some(self.metrics_url.trim().to_owned()).filter(|url| !url.is_empty())
    }

    /// The header rows, checked (empty rows are skipped).
    fn parsed_headers(&self) -> Result<Headers, String> {
        let items: Vec<String> = self
            .headers
            .iter()
            .filter(|(key, value)| !key.trim().is_empty() || !value.is_empty())
            .map(|(key, value)| format!("{}={value}", key.trim()))
            .collect();
        Headers::parse(items.iter().map(String::as_str))
            .map_err(|err| err.to_string().replace("--header", "Header"))
    }

    /// The inputs of the chosen model as the server declares them (`-1`:
    /// a dim with no fixed size), while runs go to the server.
    pub fn inputs(&self) -> Option<Vec<crate::model::TensorInfo>> {
        self.target()?;
        let metadata = self.probe.as_ref()?.metadata.as_ref()?;
        Some(
            metadata
                .inputs
                .iter()
                .map(|tensor| crate::model::TensorInfo {
                    name: tensor.name.clone(),
                    dtype: crate::model::ElemType::Other(0),
                    shape: Some(
                        tensor
                            .shape
                            .iter()
                            .map(|&dim| {
                                if dim < 0 {
                                    crate::model::Dim::Unnamed
                                } else {
                                    crate::model::Dim::Fixed(dim)
                                }
                            })
                            .collect(),
                    ),
                })
                .collect(),
        )
    }

    fn connect(&mut self) {
        let headers = match self.parsed_headers() {
            Ok(headers) => headers,
            Err(err) => {
                self.error = Some(err);
                return;
            }
        };
        // The model name is checked by the probe; an empty one reads only
        // the server and its index.
        let mut target = match RemoteTarget::parse(
            self.url.trim(),
            Some(self.model_name.trim()).filter(|name| !name.is_empty()),
            None,
            None,
        ) {
            Ok(target) => target,
            Err(crate::engine::target::TargetError::NoModelName) => {
                match crate::engine::target::TargetUrl::parse(self.url.trim()) {
                    Ok(url) => RemoteTarget {
                        url: url.url,
                        protocol: url.protocol,
                        authority: url.authority,
                        model_name: String::new(),
                        model_version: None,
                        timeout_millis: crate::engine::target::DEFAULT_TIMEOUT_MILLIS,
                        grpc_channels: None,
                        headers: Default::default(),
                    },
                    Err(err) => {
                        self.error = Some(err.to_string());
                        return;
                    }
                }
            }
            Err(err) => {
                self.error = Some(err.to_string());
                return;
            }
        };
        target.headers = headers;
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("wb-ui-remote".to_owned())
            .spawn(crate::field::carried(move || {
                let _ = sender.send(probe(target));
            }));
        match spawned {
            Ok(_) => {
                self.pending = Some(receiver);
                self.error = None;
            }
            Err(err) => self.error = Some(format!("could not start a thread: {err}")),
        }
    }

    fn poll(&mut self) {
        let Some(receiver) = &self.pending else {
            return;
        };
        match receiver.try_recv() {
            Ok(Ok(probe)) => {
                self.probe = Some(probe);
                self.pending = None;
            }
            Ok(Err(message)) => {
                self.error = Some(message);
                self.probe = None;
                self.active = false;
                self.pending = None;
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                self.error = Some("the connection attempt ended without an answer".to_owned());
                self.pending = None;
            }
        }
    }

    /// The start page's section.
    pub fn ui(&mut self, ui: &mut Ui) {
        self.poll();
        ui.add_space(12.0);
        ui.label(RichText::new("Remote server").strong());
        ui.label(
            RichText::new(
                "A model on Triton, KServe or any Open Inference Protocol server: grpc://HOST:PORT or http://HOST:PORT",
            )
            .small()
            .color(theme::MUTED),
        );
        ui.horizontal(|ui| {
            let label = ui.label("Server URL");
            ui.add(
                egui::TextEdit::singleline(&mut self.url)
                    .hint_text("grpc://HOST:8001")
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
            let label = ui.label("Model name");
            ui.add(egui::TextEdit::singleline(&mut self.model_name).desired_width(160.0))
                .labelled_by(label.id);
            let busy = self.pending.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new("Connect"))
                .clicked()
            {
                self.active = false;
                self.connect();
            }
            if busy {
                ui.spinner();
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            }
        });
        self.headers_ui(ui);
        ui.horizontal(|ui| {
            let label = ui.label("Metrics URL");
            ui.add(
                egui::TextEdit::singleline(&mut self.metrics_url)
                    .hint_text("optional, e.g. http://HOST:8002/metrics")
                    .desired_width(260.0),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "The server's Prometheus endpoint (Triton's /metrics), scraped once per \
                 window during runs for its GPU readings; the headers are sent there too.",
            );
        });
        if let Some(error) = &self.error {
            ui.label(RichText::new(error).color(theme::ERROR));
        }
        let mut chosen: Option<String> = None;
        if let Some(probe) = &self.probe {
            ui.label(format!(
                "{} {} at {}",
                probe.server.name, probe.server.version, probe.target.url
            ));
            match &probe.index {
                Some(index) if !index.is_empty() => {
                    ui.label("Models in the server's repository:");
                    for entry in index {
                        ui.horizontal(|ui| {
                            if ui.button(&entry.name).clicked() {
                                chosen = Some(entry.name.clone());
                            }
                            ui.label(
                                RichText::new(format!("{} {}", entry.version, entry.state))
                                    .small()
                                    .color(theme::MUTED),
                            );
                        });
                    }
                }
                Some(_) => {
                    ui.label(
                        RichText::new(
                            "The server's repository index lists no models: type the model name.",
                        )
                        .small()
                        .color(theme::MUTED),
                    );
                }
                None => {
                    ui.label(
                        RichText::new("No repository index on this server: type the model name.")
                            .small()
                            .color(theme::MUTED),
                    );
                }
            }
            if probe.metadata.is_some() {
                let label = if self.active {
                    format!("Runs go to {}", probe.target.describe())
                } else {
                    format!("Use {} for runs", probe.target.model_name)
                };
                if ui.checkbox(&mut self.active, label).changed() && self.active {
                    self.error = None;
                }
            }
        }
        if let Some(name) = chosen {
            self.model_name = name;
            self.connect();
        }
    }

    /// One row per header: the key, the value masked, a remove button.
    /// Applied at the next Connect.
    fn headers_ui(&mut self, ui: &mut Ui) {
        let mut remove = None;
        for (index, (key, value)) in self.headers.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                let label = ui.label("Header");
                ui.add(
                    egui::TextEdit::singleline(key)
                        .hint_text("e.g. triton-access-token")
                        .desired_width(180.0),
                )
                .labelled_by(label.id);
                let label = ui.label("value");
                ui.add(
                    egui::TextEdit::singleline(value)
                        .password(true)
                        .desired_width(180.0),
                )
                .labelled_by(label.id);
                if ui
                    .small_button("Remove")
                    .on_hover_text("Remove this header")
                    .clicked()
                {
                    remove = Some(index);
                }
            });
        }
        if let Some(index) = remove {
            self.headers.remove(index);
        }
        if ui
            .small_button("+ Header")
            .on_hover_text(
                "A header sent on every call (gRPC metadata or HTTP header), such as an \
                 access token. Values are never saved: sessions keep only the key.",
            )
            .clicked()
        {
            self.headers.push(Default::default());
        }
    }

    /// The Model tab's section: the server's metadata of the chosen model.
    /// Returns whether it drew anything.
    pub fn metadata_ui(&self, ui: &mut Ui) -> bool {
        let (Some(probe), true) = (&self.probe, self.active) else {
            return false;
        };
        let Some(metadata) = &probe.metadata else {
            return false;
        };
        ui.heading(format!("{} (remote)", metadata.name));
        ui.label(
            RichText::new(format!(
                "{} {} at {}{}",
                probe.server.name,
                probe.server.version,
                probe.target.url,
                if metadata.platform.is_empty() {
                    String::new()
                } else {
                    format!(", platform {}", metadata.platform)
                }
            ))
            .small()
            .color(theme::MUTED),
        );
        let mut text = String::new();
        for (title, tensors) in [("Inputs", &metadata.inputs), ("Outputs", &metadata.outputs)] {
            text.push_str(title);
            text.push('\n');
            for tensor in tensors {
                text.push_str(&format!(
                    "  {} {} {:?}\n",
                    tensor.name, tensor.datatype, tensor.shape
                ));
            }
        }
        ui.add(egui::Label::new(RichText::new(text).monospace()));
        ui.add_space(8.0);
        true
    }
}
