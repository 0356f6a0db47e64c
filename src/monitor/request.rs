//! One endpoint of the spec turned into the request the monitor sends (`Rendered`): its path with
//! the endpoint's `query` appended, and its `headers`, all templates filled for one tenant.

use crate::spec::Endpoint;
use crate::spec::Values;

/// A request target: path and query string, and the extra headers to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rendered {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Rendered {
    /// A bare path, without declared query or headers.
    pub fn path(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            headers: Vec::new(),
        }
    }

    /// The same request with query parameters appended (`name=value`, URL-encoded).
    pub fn with_query<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (name, value) in pairs {
            encoded.append_pair(name, value);
            any = true;
        }
        if any {
            let separator = if self.path.contains('?') { '&' } else { '?' };
            self.path = format!("{}{separator}{}", self.path, encoded.finish());
        }
        self
    }
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

/// Fills `endpoint`'s path, query and headers with `values`.
pub fn render(endpoint: &Endpoint, values: &Values) -> Result<Rendered, String> {
    let path = endpoint.path.render(values)?;
    let query = endpoint
        .query
        .iter()
        .map(|(name, value)| Ok((name.clone(), value.render(values)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let headers = endpoint
        .headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), value.render(values)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Rendered { path, headers }.with_query(query.iter().map(|(n, v)| (n.as_str(), v.as_str()))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_values_are_encoded_and_headers_filled() {
        let spec = crate::spec::Spec::parse(
            "name = \"x\"\n[api]\nbase_url_env = \"U\"\n[api.auth]\nscheme = \"static\"\n[[api.resources]]\nname = \"t\"\nsearch = { path = \"/v1/cards?limit=5\", query = { q = \"card {marker}\" }, headers = { Accept = \"text/{marker}\" } }\n",
            "x.toml",
        )
        .unwrap();
        let endpoint = spec.api.unwrap().resources[0].search.clone().unwrap();
        let values: Values = [("marker".to_owned(), "tp1&2".to_owned())].into();
        let rendered = render(&endpoint, &values).unwrap();
        assert_eq!(rendered.path, "/v1/cards?limit=5&q=card+tp1%262");
        assert_eq!(
            rendered.headers,
            [("Accept".to_owned(), "text/tp1&2".to_owned())]
        );
    }
}
