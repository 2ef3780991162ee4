//! A small typed SVG/HTML writer: elements are built with attributes and
//! children, every text and attribute value is escaped, and numbers are
//! written with a fixed precision, so the same drawing is the same bytes.
use std::fmt::Write;

/// Escapes text for HTML/SVG element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no place in a report; a scenario
            // name could carry one.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length, written with one decimal (trailing `.0`
/// dropped): enough for a screen, and identical on every platform.
pub fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    let s = format!("{r:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_string();
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// One element under construction.
pub struct El {
    name: &'static str,
    attrs: String,
    body: String,
}

impl El {
    /// A new element `<name>`.
    pub fn new(name: &'static str) -> Self {
        El {
            name,
            attrs: String::new(),
            body: String::new(),
        }
    }

    /// A text attribute (escaped).
    pub fn a(mut self, k: &str, v: &str) -> Self {
        let _ = write!(self.attrs, " {k}=\"{}\"", esc(v));
        self
    }

    /// A numeric attribute.
    pub fn n(mut self, k: &str, v: f64) -> Self {
        let _ = write!(self.attrs, " {k}=\"{}\"", num(v));
        self
    }

    /// A `class` attribute.
    pub fn class(self, c: &str) -> Self {
        self.a("class", c)
    }

    /// Text content (escaped).
    pub fn text(mut self, t: &str) -> Self {
        self.body.push_str(&esc(t));
        self
    }

    /// A `<title>` child: the tooltip a browser shows on hover.
    pub fn title(mut self, t: &str) -> Self {
        let _ = write!(self.body, "<title>{}</title>", esc(t));
        self
    }

    /// A child element.
    pub fn child(mut self, c: El) -> Self {
        c.write_to(&mut self.body);
        self
    }

    /// Adds a child in place.
    pub fn push(&mut self, c: El) {
        c.write_to(&mut self.body);
    }

    /// Trusted markup produced by this module's own writers (never user
    /// text).
    pub fn raw(mut self, markup: &str) -> Self {
        self.body.push_str(markup);
        self
    }

    /// Appends the element's markup to `out`.
    pub fn write_to(self, out: &mut String) {
        if self.body.is_empty() && is_void_ok(self.name) {
            let _ = write!(out, "<{}{}/>", self.name, self.attrs);
        } else {
            let _ = write!(
                out,
                "<{}{}>{}</{}>",
                self.name, self.attrs, self.body, self.name
            );
        }
    }

    /// The element's markup.
    #[cfg(test)]
    pub fn render(self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }
}

/// SVG shapes may self-close; HTML elements may not.
fn is_void_ok(name: &str) -> bool {
    matches!(
        name,
        "rect" | "line" | "path" | "circle" | "polyline" | "polygon" | "use" | "stop"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let e = El::new("text").a("data-x", "a\"b<c>").text("<script>&'");
        assert_eq!(
            e.render(),
            "<text data-x=\"a&quot;b&lt;c&gt;\">&lt;script&gt;&amp;&#39;</text>"
        );
    }

    #[test]
    fn numbers_are_fixed() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(f64::NAN), "0");
    }
}
