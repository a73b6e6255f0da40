//! Reports `argocd-cm` resource customizations Ferry cannot use.
//!
//! Argo CD silently ignores a malformed customization key and lets a script that does not compile
//! fail only when it runs. This watcher re-parses the ConfigMap `argocd-cm` (namespace
//! [`ARGOCD_NAMESPACE`], where Argo CD and the seed keep it) on every change and, for each warning
//! `ferry-health` returns:
//! * records a Warning event on the ConfigMap (reason `InvalidResourceCustomization`, the message
//!   names the key and the error), once per ConfigMap revision;
//! * sets a `ResourceCustomizationWarning` condition on every Application of that namespace, and
//!   removes it once the ConfigMap is fixed (or deleted). Conditions of other types are left alone.
//!   New Applications get the condition when they appear.

use std::time::Duration;

use ferry_health::ResourceOverrides;
use ferry_health::conditions::{
    INVALID_RESOURCE_CUSTOMIZATION, reconcile_conditions, warning_conditions, warning_message,
};
use ferry_health::settings::ConfigWarning;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

/// The namespace of Argo CD's settings and Applications.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// Argo CD's settings ConfigMap.
pub const SETTINGS_CONFIG_MAP: &str = "argocd-cm";
const CONTROLLER_NAME: &str = "ferry-argocd-settings";
/// Attempts at patching one Application when its resourceVersion moved meanwhile.
const PATCH_ATTEMPTS: usize = 3;

/// The running watcher.
pub struct SettingsWatcher {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl SettingsWatcher {
    /// Starts watching `argocd-cm` and the Applications in `namespace`.
    pub fn start(client: kube::Client, namespace: &str) -> SettingsWatcher {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(client, namespace.to_owned(), stopped));
        SettingsWatcher { stop, task }
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// What the watcher knows about the settings.
struct Settings {
    applications: Api<DynamicObject>,
    recorder: Recorder,
    /// The warnings of the current ConfigMap; `None` until the first list completed.
    warnings: Option<Vec<ConfigWarning>>,
    /// The ConfigMap revision whose warnings were last recorded as events.
    recorded_revision: Option<String>,
    /// During the initial list: the ConfigMap seen so far.
    listing: Option<ConfigMap>,
}

async fn run(client: kube::Client, namespace: String, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let applications: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &application_resource());
    let by_name = watcher::Config::default().fields(&format!("metadata.name={SETTINGS_CONFIG_MAP}"));
    let mut settings_events = watcher(config_maps, by_name).default_backoff().boxed();
    let mut application_events = watcher(applications.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut settings = Settings {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.to_string(),
                instance: None,
            },
        ),
        applications,
        warnings: None,
        recorded_revision: None,
        listing: None,
    };
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            event = settings_events.next() => match event {
                None => break,
                Some(Err(error)) => tracing::debug!(%error, "watching {SETTINGS_CONFIG_MAP}"),
                Some(Ok(event)) => settings.on_config_map_event(event).await,
            },
            event = application_events.next() => match event {
                None => break,
                Some(Err(error)) => tracing::debug!(%error, "watching Applications"),
                Some(Ok(watcher::Event::Apply(app) | watcher::Event::InitApply(app))) => {
                    settings.reconcile_application(app).await;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

impl Settings {
    async fn on_config_map_event(&mut self, event: watcher::Event<ConfigMap>) {
        match event {
            watcher::Event::Init => self.listing = None,
            watcher::Event::InitApply(config_map) => self.listing = Some(config_map),
            watcher::Event::InitDone => {
                let config_map = self.listing.take();
                self.apply(config_map).await;
            }
            watcher::Event::Apply(config_map) => self.apply(Some(config_map)).await,
            watcher::Event::Delete(_) => self.apply(None).await,
        }
    }

    /// Re-parses the ConfigMap (or its absence), records events for a new revision with warnings
    /// and brings every Application's condition up to date.
    async fn apply(&mut self, config_map: Option<ConfigMap>) {
        let config_map = config_map.filter(|cm| cm.metadata.name.as_deref() == Some(SETTINGS_CONFIG_MAP));
        let warnings = match &config_map {
            None => Vec::new(),
            Some(config_map) => match serde_json::to_value(config_map) {
                Ok(object) => ResourceOverrides::from_config_map(&object).warnings().to_vec(),
                Err(error) => {
                    tracing::warn!(%error, "reading {SETTINGS_CONFIG_MAP}");
                    Vec::new()
                }
            },
        };
        if let Some(config_map) = &config_map {
            let revision = config_map.metadata.resource_version.clone();
            if revision != self.recorded_revision {
                self.recorded_revision = revision;
                for warning in &warnings {
                    self.record(config_map, warning).await;
                }
            }
        }
        let changed = self.warnings.as_ref() != Some(&warnings);
        self.warnings = Some(warnings);
        if changed {
            self.reconcile_all().await;
        }
    }

    async fn record(&self, config_map: &ConfigMap, warning: &ConfigWarning) {
        tracing::warn!(key = %warning.key, "argocd-cm customization ignored: {}", warning.message);
        let message = warning_message(warning);
        let event = Event {
            type_: EventType::Warning,
            reason: INVALID_RESOURCE_CUSTOMIZATION.to_string(),
            // The Recorder aggregates events by (type, reason, action): one action per key keeps
            // the warnings of different keys apart (128 characters at most).
            action: warning.key.chars().take(128).collect(),
            note: Some(message),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &config_map.object_ref(&())).await {
            tracing::debug!(%error, "recording an {SETTINGS_CONFIG_MAP} warning event");
        }
    }

    async fn reconcile_all(&self) {
        match self.applications.list(&ListParams::default()).await {
            Ok(list) => {
                for app in list.items {
                    self.reconcile_application(app).await;
                }
            }
            Err(error) => tracing::debug!(%error, "listing Applications"),
        }
    }

    /// Sets or clears the warning conditions of one Application (merge patch guarded by its
    /// resourceVersion; re-read and retried on a conflict).
    async fn reconcile_application(&self, mut app: DynamicObject) {
        let Some(warnings) = &self.warnings else {
            // The settings are not known yet; the end of the initial list reconciles everyone.
            return;
        };
        let Some(name) = app.metadata.name.clone() else {
            return;
        };
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let desired = warning_conditions(warnings, &now);
        for _ in 0..PATCH_ATTEMPTS {
            let current = app
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(updated) = reconcile_conditions(&current, &desired) else {
                return;
            };
            let conditions = if updated.is_empty() {
                Value::Null
            } else {
                Value::Array(updated)
            };
            let patch = json!({
                "metadata": {"resourceVersion": app.metadata.resource_version},
                "status": {"conditions": conditions},
            });
            match self
                .applications
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    match self.applications.get(&name).await {
                        Ok(fresh) => app = fresh,
                        Err(error) => {
                            tracing::debug!(%error, application = %name, "re-reading after a conflict");
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, application = %name, "setting the argocd-cm warning condition");
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
