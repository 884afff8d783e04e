//! How a rehearsal is shown, shared by `rehearse deploy` and `rehearse
//! incident`: the timeline and the zero-healthy intervals as text, and the
//! SVG picture (one lane per task, the ELB's healthy targets, the outage
//! shaded).

use std::fmt::Write as _;

use chronous_core::ecs::Millis;

use crate::trace::{Lane, TimelineEvent};

/// `5m 12.3s`, `42s`, `1500ms` style.
pub fn fmt_ms(ms: Millis) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let frac = ms % 1000;
    let secs = |x: u64| {
        if frac == 0 {
            format!("{x}s")
        } else {
            format!("{x}.{:03}s", frac)
                .trim_end_matches('0')
                .to_string()
        }
    };
    if s < 60 {
        secs(s)
    } else if s < 3600 {
        format!("{}m {}", s / 60, secs(s % 60))
    } else {
        format!("{}h {}m {}", s / 3600, (s % 3600) / 60, secs(s % 60))
    }
}

pub(crate) fn short(id: &str) -> &str {
    if id.len() > 12 && !id.starts_with("i-") {
        &id[..8]
    } else {
        id
    }
}

/// The timeline, one line per event.
pub(crate) fn write_timeline(o: &mut String, timeline: &[TimelineEvent]) {
    for e in timeline {
        let _ = writeln!(
            o,
            "{:>12}  {:<24} {:<8} {:<19} {}",
            format!("+{}", fmt_ms(e.at_ms)),
            e.kind,
            e.task.as_deref().map(short).unwrap_or("-"),
            e.instance.as_deref().unwrap_or("-"),
            e.message
        );
    }
}

/// A blank line, the zero-healthy intervals and the predicted downtime.
pub(crate) fn write_downtime(
    o: &mut String,
    zero_healthy: &[(Millis, Millis)],
    down_at_end: bool,
    predicted_downtime_ms: Millis,
) {
    let _ = writeln!(o);
    if zero_healthy.is_empty() {
        let _ = writeln!(o, "zero healthy targets: never");
    } else {
        for (i, (a, b)) in zero_healthy.iter().enumerate() {
            let open = down_at_end && i + 1 == zero_healthy.len();
            let _ = writeln!(
                o,
                "zero healthy targets: +{} .. +{} ({}){}",
                fmt_ms(*a),
                fmt_ms(*b),
                fmt_ms(b - a),
                if open {
                    ", still down when the rehearsal ended"
                } else {
                    ""
                }
            );
        }
    }
    let _ = writeln!(o, "predicted downtime: {}", fmt_ms(predicted_downtime_ms));
}

/// What the SVG picture shows: a heading (markup, escaped already), the
/// run's length, its zero-healthy intervals, one lane per task, the outcome.
pub(crate) struct Picture<'a> {
    pub heading: String,
    pub duration_ms: Millis,
    pub predicted_downtime_ms: Millis,
    pub zero_healthy: &'a [(Millis, Millis)],
    pub lanes: &'a [Lane],
    pub outcome: String,
}

impl Picture<'_> {
    /// A timeline picture: one lane per task, the ELB's healthy-target count,
    /// the zero-healthy intervals shaded.
    pub(crate) fn svg(&self) -> String {
        let f = Frame {
            left: 190.0,
            plot: 980.0 - 190.0 - 20.0,
            span: self.duration_ms.max(1) as f64,
            top: 60.0,
            lane_h: 22.0,
            rows: self.lanes.len() + 1,
        };
        let width = 980.0;
        let (top, lane_h, rows) = (f.top, f.lane_h, f.rows);
        let height = top + rows as f64 * lane_h + 70.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="18" font-size="13">{}: predicted downtime {}</text>"#,
            self.heading,
            fmt_ms(self.predicted_downtime_ms)
        );
        // Axis ticks.
        let step = nice_step(self.duration_ms);
        let mut t = 0;
        while t <= self.duration_ms {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">+{4}</text>"##,
                f.x(t),
                top - 8.0,
                top + rows as f64 * lane_h,
                top - 12.0,
                fmt_ms(t)
            );
            t += step;
        }
        // Zero-healthy shading.
        for (a, b) in self.zero_healthy.iter() {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{}" width="{:.1}" height="{}" fill="#e53935" fill-opacity="0.15"><title>zero healthy targets +{} .. +{}</title></rect>"##,
                f.x(*a),
                top - 8.0,
                (f.x(*b) - f.x(*a)).max(1.0),
                rows as f64 * lane_h + 8.0,
                fmt_ms(*a),
                fmt_ms(*b)
            );
        }
        self.elb_lane(&mut s, &f);
        self.task_lanes(&mut s, &f);
        self.legend(&mut s, &f);
        s.push_str("</svg>\n");
        s
    }

    /// The ELB lane: green while a target is healthy, red while none is.
    fn elb_lane(&self, s: &mut String, f: &Frame) {
        let y0 = f.top;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}">ELB healthy targets</text>"#,
            y0 + 15.0
        );
        let mut edges: Vec<Millis> = vec![0];
        for (a, b) in self.zero_healthy.iter() {
            edges.push(*a);
            edges.push(*b);
        }
        edges.push(self.duration_ms);
        edges.sort();
        edges.dedup();
        for w in edges.windows(2) {
            let (a, b) = (w[0], w[1]);
            let zero = self
                .zero_healthy
                .iter()
                .any(|(za, zb)| a >= *za && b <= *zb);
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" fill="{}"/>"##,
                f.x(a),
                y0 + 4.0,
                (f.x(b) - f.x(a)).max(0.5),
                if zero { "#e53935" } else { "#43a047" }
            );
        }
    }

    /// One lane per task, a segment per state.
    fn task_lanes(&self, s: &mut String, f: &Frame) {
        for (i, lane) in self.lanes.iter().enumerate() {
            let y = f.top + (i + 1) as f64 * f.lane_h;
            let _ = writeln!(
                s,
                r#"<text x="10" y="{:.1}">{} {}</text>"#,
                y + 15.0,
                esc(short(&lane.task)),
                esc(lane
                    .task_definition
                    .rsplit(':')
                    .next()
                    .map(|r| format!("rev {r}"))
                    .as_deref()
                    .unwrap_or(""))
            );
            for (a, b, st) in &lane.segments {
                let color = match st.as_str() {
                    "provisioning" | "pending" => "#bdbdbd",
                    "running" => "#fdd835",
                    "in_service" => "#43a047",
                    "out_of_service" => "#e53935",
                    "stopping" => "#fb8c00",
                    _ => "#9e9e9e",
                };
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" fill="{color}"><title>{} +{} .. +{}</title></rect>"#,
                    f.x(*a),
                    y + 4.0,
                    (f.x(*b) - f.x(*a)).max(1.0),
                    st,
                    fmt_ms(*a),
                    fmt_ms(*b)
                );
            }
        }
    }

    /// The colours' legend and the outcome, under the lanes.
    fn legend(&self, s: &mut String, f: &Frame) {
        let ly = f.top + f.rows as f64 * f.lane_h + 25.0;
        let legend = [
            ("#bdbdbd", "provisioning/pending"),
            ("#fdd835", "running, not InService"),
            ("#43a047", "InService"),
            ("#e53935", "OutOfService / no healthy target"),
            ("#fb8c00", "stopping"),
        ];
        let mut lx = 10.0;
        for (c, label) in legend {
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
                ly - 10.0,
                lx + 16.0,
                ly
            );
            lx += 30.0 + label.len() as f64 * 6.6;
        }
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}">outcome: {}</text>"#,
            ly + 22.0,
            esc(&self.outcome)
        );
    }
}

/// Where the SVG timeline draws: the plot's left edge and width, the time
/// it spans, the first lane's top, the lanes' height and count.
struct Frame {
    left: f64,
    plot: f64,
    span: f64,
    top: f64,
    lane_h: f64,
    rows: usize,
}

impl Frame {
    /// The x of a time since the deployment started.
    fn x(&self, t: Millis) -> f64 {
        self.left + self.plot * (t as f64 / self.span)
    }
}

fn nice_step(span: Millis) -> Millis {
    let target = span / 8;
    for s in [
        1_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
        1_800_000, 3_600_000,
    ] {
        if s >= target {
            return s;
        }
    }
    7_200_000
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
