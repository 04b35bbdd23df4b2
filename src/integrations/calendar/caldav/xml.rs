//! WebDAV multistatus bodies (RFC 4918 §13), read by namespace and local name: each `response`'s
//! `href` and the properties its `200` `propstat` holds. Properties under other statuses (404: the
//! server has no such property) are left out.

use roxmltree::{Document, Node};

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// Apple's calendar server namespace (`getctag`).
pub const CS: &str = "http://calendarserver.org/ns/";

/// One `response` of a multistatus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub href: String,
    /// The response's own status, when it has one instead of propstats (`404` for a member
    /// removed since a sync token).
    pub status: Option<u16>,
    pub props: Vec<Prop>,
}

/// A child element of a property: its namespace, local name and `name` attribute (a
/// component's, as in `<C:comp name="VEVENT"/>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub namespace: String,
    pub name: String,
    pub name_attribute: Option<String>,
}

/// A property found (status 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub namespace: String,
    pub name: String,
    /// Its text, trimmed (for `displayname`, `getctag`, `getetag`, `calendar-data`...).
    pub text: String,
    /// The `href`s inside it (for `current-user-principal`, `calendar-home-set`).
    pub hrefs: Vec<String>,
    /// Its child elements (for `resourcetype`, `supported-calendar-component-set`).
    pub children: Vec<Child>,
}

impl Entry {
    pub fn prop(&self, namespace: &str, name: &str) -> Option<&Prop> {
        self.props
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    pub fn text(&self, namespace: &str, name: &str) -> Option<&str> {
        self.prop(namespace, name)
            .map(|p| p.text.as_str())
            .filter(|t| !t.is_empty())
    }

    pub fn href(&self, namespace: &str, name: &str) -> Option<&str> {
        self.prop(namespace, name)
            .and_then(|p| p.hrefs.first())
            .map(String::as_str)
    }

    /// Whether its `resourcetype` holds `<namespace:name/>` (a CalDAV `calendar`, say).
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.prop(DAV, "resourcetype").is_some_and(|p| {
            p.children
                .iter()
                .any(|c| c.namespace == namespace && c.name == name)
        })
    }
}

/// The multistatus's responses, and its top-level `sync-token` (RFC 6578) when there is one.
pub fn parse(body: &str) -> Result<(Vec<Entry>, Option<String>), String> {
    let doc = Document::parse(body).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !is(root, DAV, "multistatus") {
        return Err("not a WebDAV multistatus".into());
    }
    let mut entries = Vec::new();
    let mut sync_token = None;
    for child in root.children().filter(Node::is_element) {
        if is(child, DAV, "sync-token") {
            sync_token = Some(text(child)).filter(|t| !t.is_empty());
        }
        if !is(child, DAV, "response") {
            continue;
        }
        let href = child
            .children()
            .find(|n| is(*n, DAV, "href"))
            .map(text)
            .unwrap_or_default();
        let status = child
            .children()
            .find(|n| is(*n, DAV, "status"))
            .and_then(|n| status_code(&text(n)));
        let mut props = Vec::new();
        for propstat in child.children().filter(|n| is(*n, DAV, "propstat")) {
            let ok = propstat
                .children()
                .find(|n| is(*n, DAV, "status"))
                .and_then(|n| status_code(&text(n)))
                .is_some_and(|code| (200..300).contains(&code));
            if !ok {
                continue;
            }
            for prop in propstat.children().filter(|n| is(*n, DAV, "prop")) {
                for p in prop.children().filter(Node::is_element) {
                    props.push(Prop {
                        namespace: p.tag_name().namespace().unwrap_or_default().to_string(),
                        name: p.tag_name().name().to_string(),
                        text: text(p),
                        hrefs: p
                            .descendants()
                            .filter(|n| is(*n, DAV, "href"))
                            .map(text)
                            .collect(),
                        children: p
                            .children()
                            .filter(Node::is_element)
                            .map(|c| Child {
                                namespace: c.tag_name().namespace().unwrap_or_default().to_string(),
                                name: c.tag_name().name().to_string(),
                                name_attribute: c.attribute("name").map(str::to_string),
                            })
                            .collect(),
                    });
                }
            }
        }
        entries.push(Entry {
            href,
            status,
            props,
        });
    }
    Ok((entries, sync_token))
}

fn is(node: Node, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(namespace)
        && node.tag_name().name() == name
}

fn text(node: Node) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_string()
}

/// `HTTP/1.1 200 OK` → 200.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Text for an XML body: `&`, `<`, `>`, quotes escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multistatus_reads_by_namespace_whatever_the_prefixes() {
        let body = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:x="http://calendarserver.org/ns/">
  <response><href>/alice/work/</href>
    <propstat><prop>
      <resourcetype><collection/><C:calendar/></resourcetype>
      <displayname>Work &amp; more</displayname>
      <x:getctag>"ctag-1"</x:getctag>
      <sync-token>http://radicale.org/ns/sync/abc</sync-token>
    </prop><status>HTTP/1.1 200 OK</status></propstat>
    <propstat><prop><C:calendar-color/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
  </response>
  <response><href>/alice/</href>
    <propstat><prop><current-user-principal><href>/alice/</href></current-user-principal>
      <resourcetype><collection/></resourcetype></prop>
    <status>HTTP/1.1 200 OK</status></propstat>
  </response>
  <response><href>/alice/work/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
  <sync-token>http://radicale.org/ns/sync/def</sync-token>
</multistatus>"#;
        let (entries, token) = parse(body).unwrap();
        assert_eq!(token.as_deref(), Some("http://radicale.org/ns/sync/def"));
        assert_eq!(entries.len(), 3);
        let work = &entries[0];
        assert!(work.is(CALDAV, "calendar"));
        assert_eq!(work.text(DAV, "displayname"), Some("Work & more"));
        assert_eq!(work.text(CS, "getctag"), Some("\"ctag-1\""));
        assert_eq!(
            work.text(DAV, "sync-token"),
            Some("http://radicale.org/ns/sync/abc")
        );
        assert!(
            work.prop(CALDAV, "calendar-color").is_none(),
            "404 properties are left out"
        );
        assert!(!entries[1].is(CALDAV, "calendar"));
        assert_eq!(
            entries[1].href(DAV, "current-user-principal"),
            Some("/alice/")
        );
        assert_eq!(entries[2].status, Some(404));
        assert!(entries[2].props.is_empty());
    }

    #[test]
    fn what_is_not_a_multistatus_is_said_so() {
        assert!(parse("<html><body>hello</body></html>").is_err());
        assert!(parse("not xml at all").is_err());
        // An external entity is not fetched: roxmltree does not resolve DTDs.
        let hostile = r#"<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><multistatus xmlns="DAV:">&x;</multistatus>"#;
        assert!(parse(hostile).is_err() || parse(hostile).unwrap().0.is_empty());
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
