//! Charts drawn on the server as inline SVG: no script, no image requests.
//! Each chart is `role="img"` with a title and a description giving its
//! figures, and the page shows the same figures in a table beside it.

use maud::{Markup, html};

const WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 170;
/// Room right of the longest bar for its figure.
const FIGURE_WIDTH: u32 = 150;
const BAR_HEIGHT: u32 = 34;
const GAP: u32 = 12;

/// One bar: its label, the value its length shows, and the figure written beside it.
pub struct Bar {
    /// Left of the bar.
    pub label: String,
    /// Sets the bar's length, relative to the largest.
    pub value: f64,
    /// Right of the bar.
    pub figure: String,
}

/// Width of a bar for `value` out of `max` over `span` pixels (at least 2 for a non-zero value).
fn bar_width(value: f64, max: f64, span: u32) -> u32 {
    if value <= 0.0 || max <= 0.0 {
        return 0;
    }
    let width = (value / max * f64::from(span)).round() as u32;
    width.clamp(2, span)
}

/// A horizontal bar chart, each bar relative to the largest.
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let span = WIDTH - LABEL_WIDTH - FIGURE_WIDTH;
    let height = (BAR_HEIGHT + GAP) * bars.len() as u32 + GAP;
    let described = bars.iter().map(|b| format!("{}: {}", b.label, b.figure)).collect::<Vec<_>>().join(", ");
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg.chart #(id) role="img" viewBox=(format!("0 0 {WIDTH} {height}"))
            aria-labelledby=(format!("{title_id} {desc_id}")) preserveAspectRatio="xMinYMin meet" {
            title #(title_id) { (title) }
            desc #(desc_id) { (described) }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = GAP + i as u32 * (BAR_HEIGHT + GAP);
                @let width = bar_width(bar.value, max, span);
                text.chart-label x="0" y=(y + BAR_HEIGHT / 2 + 5) { (bar.label) }
                rect.chart-track x=(LABEL_WIDTH) y=(y) width=(span) height=(BAR_HEIGHT) rx="4" {}
                rect class=(format!("chart-bar chart-bar-{}", i % 4)) x=(LABEL_WIDTH) y=(y)
                    width=(width) height=(BAR_HEIGHT) rx="4" {}
                text.chart-value x=(LABEL_WIDTH + width + 8) y=(y + BAR_HEIGHT / 2 + 5) { (bar.figure) }
            }
        }
    }
}

/// The funnel: one bar per stage, each out of the first.
pub fn funnel(id: &str, title: &str, stages: &[(&str, u64)]) -> Markup {
    let stages: Vec<Bar> = stages
        .iter()
        .map(|(label, n)| Bar { label: (*label).to_owned(), value: *n as f64, figure: n.to_string() })
        .collect();
    bars(id, title, &stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_stay_visible() {
        assert_eq!(bar_width(0.0, 10.0, 400), 0);
        assert_eq!(bar_width(10.0, 10.0, 400), 400);
        assert_eq!(bar_width(5.0, 10.0, 400), 200);
        assert_eq!(bar_width(1.0, 100_000.0, 400), 2, "a tiny non-zero value is still seen");
    }

    #[test]
    fn the_chart_names_its_figures_for_screen_readers() {
        let svg = funnel("f", "Funnel", &[("Detections", 10), ("Prompts", 4)]).into_string();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("Detections: 10, Prompts: 4"));
    }
}
