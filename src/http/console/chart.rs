//! The overview's chart of the last 24 hours of deliveries, drawn on the server as SVG: no script, and readable
//! without colour (each bar's title and link say what it counts).

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use maud::{Markup, html};

use crate::store::deliveries::Outcome;

/// The chart's hours, and each bar's size in the SVG's own units.
const HOURS: i64 = 24;
const BAR_WIDTH: i64 = 20;
const PLOT_HEIGHT: i64 = 100;
/// Room above the plot for the peak's label.
const MARGIN_TOP: i64 = 14;

/// One bar per hour (the oldest left, the current hour right), its outcomes stacked in `Outcome::ALL` order; each
/// bar links to that hour's deliveries.
pub fn deliveries_by_hour(counts: &[(DateTime<Utc>, Outcome, i64)], now: DateTime<Utc>) -> Markup {
    let current = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let first = current - Duration::hours(HOURS - 1);
    let count = |hour: DateTime<Utc>, outcome: Outcome| {
        (counts.iter())
            .filter(|(h, o, _)| *h == hour && *o == outcome)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    let hours: Vec<DateTime<Utc>> = (0..HOURS).map(|i| first + Duration::hours(i)).collect();
    let totals: Vec<i64> = (hours.iter())
        .map(|h| Outcome::ALL.iter().map(|o| count(*h, *o)).sum())
        .collect();
    let highest = totals.iter().copied().max().unwrap_or(0).max(1);
    let all: i64 = totals.iter().sum();
    let width = HOURS * BAR_WIDTH;
    let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    html! {
        svg.chart viewBox={ "0 -" (MARGIN_TOP) " " (width) " " (MARGIN_TOP + PLOT_HEIGHT + 16) } role="group"
            aria-label={ (all) " deliveries in the last 24 hours, at most " (highest) " in one hour" } {
            line.axis x1="0" y1=(PLOT_HEIGHT) x2=(width) y2=(PLOT_HEIGHT) {}
            @for (i, hour) in hours.iter().enumerate() {
                @let x = i as i64 * BAR_WIDTH;
                @let label = bar_label(*hour, |o| count(*hour, o));
                a href={ "/console/deliveries?received_after=" (stamp(*hour)) "&received_before=" (stamp(*hour + Duration::hours(1))) } aria-label=(label) {
                    title { (label) }
                    // The whole column is the link's target, even where the bar is short.
                    rect.hit x=(x) y="0" width=(BAR_WIDTH) height=(PLOT_HEIGHT) {}
                    @let mut top = PLOT_HEIGHT;
                    @for outcome in Outcome::ALL {
                        @let n = count(*hour, outcome);
                        @if n > 0 {
                            @let height = (n * PLOT_HEIGHT / highest).max(1);
                            @let y = { top -= height; top };
                            rect class=(outcome.as_str()) x={ (x + 2) } y=(y) width={ (BAR_WIDTH - 4) } height=(height) {}
                        }
                    }
                }
                @if i % 6 == 0 {
                    text x=(x) y={ (PLOT_HEIGHT + 13) } { (hour.format("%H:%M")) }
                }
            }
            // Above the plot, so that no bar hides it.
            text.peak x={ (width - 2) } y="-4" text-anchor="end" { "max " (highest) "/h" }
        }
    }
}

/// `09:00–10:00 UTC: 42 stored, 1 unprocessable`, or `: none`.
fn bar_label(hour: DateTime<Utc>, count: impl Fn(Outcome) -> i64) -> String {
    let parts: Vec<String> = (Outcome::ALL.iter())
        .filter_map(|o| {
            Some(count(*o))
                .filter(|n| *n > 0)
                .map(|n| format!("{n} {}", o.as_str()))
        })
        .collect();
    format!(
        "{}–{} UTC: {}",
        hour.format("%H:%M"),
        (hour + Duration::hours(1)).format("%H:%M"),
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hour_is_a_bar_of_its_outcomes_linked_to_its_deliveries() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:20:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let hour = |h: i64| now.duration_trunc(Duration::hours(1)).expect("an hour") - Duration::hours(h);
        let counts = [
            (hour(0), Outcome::Stored, 40),
            (hour(0), Outcome::Unprocessable, 2),
            (hour(5), Outcome::Stored, 10),
        ];
        let svg = deliveries_by_hour(&counts, now).into_string();
        assert!(
            svg.contains("52 deliveries in the last 24 hours, at most 42 in one hour"),
            "{svg}"
        );
        assert!(svg.contains("10:00–11:00 UTC: 40 stored, 2 unprocessable"), "{svg}");
        assert!(svg.contains("05:00–06:00 UTC: 10 stored"), "{svg}");
        assert!(
            svg.contains("11:00–12:00 UTC: none"),
            "the oldest hour, yesterday: {svg}"
        );
        assert!(
            svg.contains("received_after=2026-12-05T10:00:00Z&amp;received_before=2026-12-05T11:00:00Z"),
            "{svg}"
        );
        assert_eq!(svg.matches("<title>").count(), 24);
    }
}
