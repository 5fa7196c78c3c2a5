//! The catalogue's HTML page: one self-contained document (inline CSS, no script), one row
//! per machine, sort and filter by links. Every string from the store is escaped (a miner
//! chooses the GPU name it claims).

use std::fmt::Write as _;

use validator_report::escape;

use super::model::{Machine, Machines, Sort};

const CSS: &str = "\
body{margin:0 auto;max-width:1400px;padding:16px 24px 48px;font:14px/1.45 system-ui,sans-serif;color:#1d2430}
h1{font-size:20px;margin:8px 0 2px}
.muted{color:#6b7380}
table{border-collapse:collapse;width:100%;margin:10px 0}
th,td{padding:4px 8px;border-bottom:1px solid #dde1e6;text-align:left;vertical-align:top}
th{background:#f4f6f8}
th a,nav a{color:#2456a6;text-decoration:none}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace;overflow-wrap:anywhere}
ul.devices,ul.receipts{margin:0;padding-left:16px}
.k-pass{color:#1f7a33}.k-wrong-result,.k-too-fast{color:#b3261e}.k-too-slow,.k-timeout,.k-protocol-error{color:#b36b00}
nav a.on{font-weight:700;color:#1d2430}
";

/// The page for the machines a query selected.
pub fn render_page(m: &Machines) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<title>gpuproof catalogue</title><style>");
    out.push_str(CSS);
    out.push_str("</style></head><body>\n");
    out.push_str("<h1>gpuproof catalogue: machines proven to this validator</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Measured capacity, not claimed names: every figure comes from a \
         challenge whose results were opened and recomputed (round {}, read at {} Unix s). \
         Each receipt re-checks offline with <code>verifier audit FILE</code>. JSON: \
         <a href=\"/v1/machines\">/v1/machines</a>.</p>",
        m.last_round, m.generated_at
    );
    filters(&mut out, m);
    if m.machines.is_empty() {
        out.push_str("<p class=\"empty\">No machine proven yet.</p>\n");
    }
    let _ = writeln!(
        out,
        "<table id=\"machines\" data-sort=\"{}\" data-order=\"{}\"><thead><tr>",
        m.sort, m.order
    );
    out.push_str(&header(m, Sort::Uid, "UID"));
    out.push_str("<th>hotkey</th><th>axon</th>");
    out.push_str(&header(m, Sort::Class, "class"));
    out.push_str("<th>devices</th><th>proven memory</th>");
    out.push_str(&header(m, Sort::Tops, "int8 TOPS"));
    out.push_str(&header(m, Sort::Gbs, "memory GB/s"));
    out.push_str(&header(m, Sort::Reliability, "reliability"));
    out.push_str("<th>last proven</th><th>rented</th><th>verdicts (latest rounds first)</th>");
    out.push_str("<th>receipts</th></tr></thead><tbody>\n");
    for machine in &m.machines {
        row(&mut out, machine);
    }
    out.push_str("</tbody></table>\n");
    if m.truncated {
        out.push_str("<p>More machines than one page shows: filter by class.</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The class filter's links.
fn filters(out: &mut String, m: &Machines) {
    out.push_str("<nav id=\"classes\">class: ");
    let all_on = if m.class.is_none() {
        " class=\"on\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<a{all_on} href=\"/?sort={}&amp;order={}\">all</a> ",
        m.sort, m.order
    );
    for class in &m.classes {
        let on = if m.class.as_ref() == Some(class) {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<a{on} href=\"/?sort={}&amp;order={}&amp;class={}\">{}</a> ",
            m.sort,
            m.order,
            url_encode(class),
            escape(class)
        );
    }
    out.push_str("</nav>\n");
}

/// A column header that sorts by `sort` (a second click reverses the order).
fn header(m: &Machines, sort: Sort, label: &str) -> String {
    let active = m.sort == sort.name();
    let order = if active && m.order == "asc" {
        "desc"
    } else {
        "asc"
    };
    let arrow = match (active, m.order.as_str()) {
        (true, "asc") => " ▲",
        (true, _) => " ▼",
        _ => "",
    };
    let class = m
        .class
        .as_ref()
        .map(|c| format!("&amp;class={}", url_encode(c)))
        .unwrap_or_default();
    format!(
        "<th><a id=\"sort-{name}\" href=\"/?sort={name}&amp;order={order}{class}\">{label}{arrow}</a></th>",
        name = sort.name()
    )
}

fn row(out: &mut String, m: &Machine) {
    let _ = write!(out, "<tr data-hotkey=\"{}\">", escape(&m.hotkey));
    let uid = m.uid.map_or_else(|| "-".to_string(), |u| u.to_string());
    let _ = write!(out, "<td class=\"uid num\">{uid}</td>");
    let _ = write!(
        out,
        "<td class=\"hotkey\"><code>{}</code></td>",
        escape(&m.hotkey)
    );
    let _ = write!(
        out,
        "<td class=\"axon\"><code>{}</code></td>",
        escape(&m.axon)
    );
    let _ = write!(
        out,
        "<td class=\"class\">{}</td>",
        escape(&m.classes.join(", "))
    );
    out.push_str("<td><ul class=\"devices\">");
    for d in &m.devices {
        let _ = write!(
            out,
            "<li data-device=\"{}\">#{} {} <span class=\"muted\">({})</span>: {} TOPS, {} GB/s, {}</li>",
            d.index,
            d.index,
            escape(&d.name),
            escape(d.class.as_deref().unwrap_or("no class")),
            figure(d.int8_tops, 3),
            figure(d.memory_gbs, 3),
            bytes(d.proven_memory_bytes),
        );
    }
    out.push_str("</ul></td>");
    let _ = write!(
        out,
        "<td class=\"memory num\" data-value=\"{}\">{}</td>",
        m.proven_memory_bytes
            .map_or_else(String::new, |b| b.to_string()),
        bytes(m.proven_memory_bytes)
    );
    number_cell(out, "tops", m.int8_tops, 3);
    number_cell(out, "gbs", m.memory_gbs, 3);
    number_cell(out, "reliability", m.reliability, 3);
    let proven = m.last_proven_at.map_or_else(|| "never".to_string(), utc);
    let _ = write!(
        out,
        "<td class=\"proven\" data-value=\"{}\">{proven}</td>",
        m.last_proven_at.map_or_else(String::new, |t| t.to_string())
    );
    let _ = write!(
        out,
        "<td class=\"rented\">{}</td>",
        if m.rented { "rented" } else { "free" }
    );
    out.push_str("<td class=\"history\">");
    for round in &m.history {
        let kinds: Vec<String> = round
            .verdicts
            .iter()
            .map(|(k, n)| format!("<span class=\"k-{k}\">{k} {n}</span>"))
            .collect();
        let _ = write!(out, "<div>#{}: {}</div>", round.round_id, kinds.join(", "));
    }
    out.push_str("</td><td><ul class=\"receipts\">");
    let links = m
        .devices
        .iter()
        .flat_map(|d| d.receipts.iter().map(move |r| (Some(d.index), r)))
        .chain(m.receipts.iter().map(|r| (None, r)));
    for (device, r) in links {
        let what = match device {
            Some(d) => format!("#{d} {} round {}", escape(&r.module), r.round_id),
            None => format!("{} round {}", escape(&r.module), r.round_id),
        };
        let kind = r.verdict;
        match &r.url {
            Some(url) => {
                let _ = write!(
                    out,
                    "<li><a class=\"receipt\" href=\"{}\">{what}</a> <span class=\"k-{kind}\">{kind}</span></li>",
                    escape(url)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<li>{what} <span class=\"k-{kind}\">{kind}</span> (pruned)</li>"
                );
            }
        }
    }
    out.push_str("</ul></td></tr>\n");
}

/// A number cell with its exact value in `data-value` (empty when none).
fn number_cell(out: &mut String, name: &str, value: Option<f64>, digits: usize) {
    let _ = write!(
        out,
        "<td class=\"{name} num\" data-value=\"{}\">{}</td>",
        value.map_or_else(String::new, |v| format!("{v}")),
        figure(value, digits)
    );
}

/// A figure for a person: 4 significant digits below 1 (a CPU device's TOPS), else
/// `digits` decimals.
fn figure(value: Option<f64>, digits: usize) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v.abs() < 1.0 && v != 0.0 => {
            let decimals = usize::try_from((-v.abs().log10()).ceil() as i64 + 3).unwrap_or(3);
            format!("{v:.prec$}", prec = decimals.min(12))
        }
        Some(v) => format!("{v:.digits$}"),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar).
fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

fn bytes(value: Option<u64>) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    match value {
        None => "-".to_string(),
        Some(b) if b as f64 >= GIB => format!("{:.2} GiB", b as f64 / GIB),
        Some(b) => format!("{:.1} MiB", b as f64 / MIB),
    }
}

/// A query value percent-encoded (unreserved characters kept).
fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_figures_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_503_413), "2026-12-05 20:43 UTC");
        assert_eq!(figure(Some(1979.123), 1), "1979.1");
        assert_eq!(figure(Some(0.004_567), 3), "0.004567");
        assert_eq!(figure(Some(0.5), 3), "0.5000");
        assert_eq!(figure(None, 3), "-");
    }
}
