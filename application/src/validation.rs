//! Field errors, as Django REST framework reports them: field name → messages.

/// Messages per field, in the order the fields were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<(String, Vec<String>)>);

impl ValidationErrors {
    pub const NON_FIELD: &'static str = "non_field_errors";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|(name, _)| name == field) {
            Some((_, messages)) => messages.push(message),
            None => self.0.push((field.to_owned(), vec![message])),
        }
    }

    /// Adds every message under one field, in order.
    pub fn add_all<M: Into<String>>(&mut self, field: &str, messages: impl IntoIterator<Item = M>) {
        messages
            .into_iter()
            .for_each(|message| self.add(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .iter()
            .map(|(field, messages)| (field.as_str(), messages.as_slice()))
    }

    pub fn messages(&self, field: &str) -> &[String] {
        self.0
            .iter()
            .find(|(name, _)| name == field)
            .map_or(&[], |(_, m)| m.as_slice())
    }

    /// `Err(self)` when any error was recorded.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}
