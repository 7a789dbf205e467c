//! Charts drawn on the server as inline SVG: no script, no image requests.
//! Each chart is `role="img"` with a title and a description giving its
//! figures, and the page shows the same figures in a table beside it.

use maud::{Markup, html};

const WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 170;
const BAR_HEIGHT: u32 = 34;
const GAP: u32 = 12;

/// Width of a bar for `value` out of `max` over `span` pixels (at least 2 for a non-zero value).
fn bar_width(value: u64, max: u64, span: u32) -> u32 {
    if value == 0 || max == 0 {
        return 0;
    }
    let width = (value as f64 / max as f64 * f64::from(span)).round() as u32;
    width.clamp(2, span)
}

/// A horizontal bar chart of labelled counts, the first bar the widest
/// reference (a funnel: each stage out of the first).
pub fn funnel(id: &str, title: &str, stages: &[(&str, u64)]) -> Markup {
    let max = stages.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let span = WIDTH - LABEL_WIDTH - 70;
    let height = (BAR_HEIGHT + GAP) * stages.len() as u32 + GAP;
    let described = stages.iter().map(|(label, n)| format!("{label}: {n}")).collect::<Vec<_>>().join(", ");
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg.chart #(id) role="img" viewBox=(format!("0 0 {WIDTH} {height}"))
            aria-labelledby=(format!("{title_id} {desc_id}")) preserveAspectRatio="xMinYMin meet" {
            title #(title_id) { (title) }
            desc #(desc_id) { (described) }
            @for (i, (label, n)) in stages.iter().enumerate() {
                @let y = GAP + i as u32 * (BAR_HEIGHT + GAP);
                text.chart-label x="0" y=(y + BAR_HEIGHT / 2 + 5) { (label) }
                rect.chart-track x=(LABEL_WIDTH) y=(y) width=(span) height=(BAR_HEIGHT) rx="4" {}
                rect class=(format!("chart-bar chart-bar-{i}")) x=(LABEL_WIDTH) y=(y)
                    width=(bar_width(*n, max, span)) height=(BAR_HEIGHT) rx="4" {}
                text.chart-value x=(LABEL_WIDTH + bar_width(*n, max, span) + 8) y=(y + BAR_HEIGHT / 2 + 5) { (n) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_stay_visible() {
        assert_eq!(bar_width(0, 10, 400), 0);
        assert_eq!(bar_width(10, 10, 400), 400);
        assert_eq!(bar_width(5, 10, 400), 200);
        assert_eq!(bar_width(1, 100_000, 400), 2, "a tiny non-zero value is still seen");
    }

    #[test]
    fn the_chart_names_its_figures_for_screen_readers() {
        let svg = funnel("f", "Funnel", &[("Detections", 10), ("Prompts", 4)]).into_string();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("Detections: 10, Prompts: 4"));
    }
}
