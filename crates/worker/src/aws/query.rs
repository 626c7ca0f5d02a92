//! AWS's Query protocol, which SNS speaks: a form-encoded POST with `Action` and
//! `Version`, answered in XML.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The body of a Query request: `Action`, `Version`, then `params` in order.
pub(crate) fn form(action: &str, version: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
    form.append_pair("Version", version);
    for (name, value) in params {
        form.append_pair(name, value);
    }
    form.finish().into_bytes()
}

/// The text of the first element named each of `names` (local names, any depth), in the
/// order of `names`; `None` where there is none or the XML breaks off before it.
pub(crate) fn first_texts<const N: usize>(xml: &[u8], names: [&str; N]) -> [Option<String>; N] {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut reader = Reader::from_reader(xml);
    let mut open: Option<usize> = None;
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(start)) => {
                let local = start.local_name();
                open = names
                    .iter()
                    .position(|n| n.as_bytes() == local.as_ref())
                    .filter(|i| found[*i].is_none());
                text.clear();
            }
            Ok(Event::Text(t)) if open.is_some() => match t.unescape() {
                Ok(part) => text.push_str(&part),
                Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
            },
            Ok(Event::CData(t)) if open.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::End(_)) => {
                if let Some(i) = open.take() {
                    found[i] = Some(std::mem::take(&mut text));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
        buf.clear();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_first_texts_and_unescapes() {
        let xml = br#"<?xml version="1.0"?><ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic &lt;t&gt; &amp; more</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#;
        assert_eq!(
            first_texts(xml, ["Code", "Message", "RequestId", "Missing"]),
            [
                Some("NotFound".to_string()),
                Some("Topic <t> & more".to_string()),
                Some("r-1".to_string()),
                None
            ]
        );
        assert_eq!(first_texts(b"not xml <<<", ["Code"]), [None]);
        assert_eq!(first_texts(b"<Code>cut off", ["Code"]), [None]);
    }

    #[test]
    fn form_encodes_in_order() {
        let body = form(
            "Publish",
            "2010-03-31",
            &[("Message".into(), "a b&c=d".into())],
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            "Action=Publish&Version=2010-03-31&Message=a+b%26c%3Dd"
        );
    }
}
