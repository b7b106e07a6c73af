//! Prometheus metrics (ADR 0006 §8). No label ever carries an id: routes are
//! templates, the rest are small fixed vocabularies.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    pub route: &'static str,
    pub method: &'static str,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClassLabels {
    pub class: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub(crate) struct Metrics {
    registry: Registry,
    pub http: Family<HttpLabels, Counter>,
    pub latency: HistogramFamily,
    pub envelopes: Family<OutcomeLabels, Counter>,
    pub auth_failures: Family<ReasonLabels, Counter>,
    pub rate_limited: Family<ClassLabels, Counter>,
    pub pairings: Family<OutcomeLabels, Counter>,
    pub db_errors: Counter,
    pub queued: Gauge,
    pub connections_closed: Family<ReasonLabels, Counter>,
}

/// Methods that get their own label; anything else is `other`, so a client
/// cannot mint label values (or log fields) with made-up methods.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

pub(crate) fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("relay");
        let http = Family::<HttpLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let envelopes = Family::<OutcomeLabels, Counter>::default();
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let rate_limited = Family::<ClassLabels, Counter>::default();
        let pairings = Family::<OutcomeLabels, Counter>::default();
        let db_errors = Counter::default();
        let queued = Gauge::default();
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template",
            http.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Request latency by route template",
            latency.clone(),
        );
        registry.register("envelopes", "Envelope outcomes", envelopes.clone());
        registry.register(
            "auth_failures",
            "Refused signatures by reason",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "pairings",
            "Pairing operations by outcome",
            pairings.clone(),
        );
        registry.register("db_errors", "Database errors", db_errors.clone());
        registry.register(
            "queued_envelopes",
            "Envelopes queued (sampled by the sweeper)",
            queued.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections closed by the relay (timeouts, caps)",
            connections_closed.clone(),
        );
        Self {
            registry,
            http,
            latency,
            envelopes,
            auth_failures,
            rate_limited,
            pairings,
            db_errors,
            queued,
            connections_closed,
        }
    }

    pub(crate) fn outcome(family: &Family<OutcomeLabels, Counter>, outcome: &'static str, n: u64) {
        family.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
