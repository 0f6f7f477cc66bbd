//! The messages shown at the bottom of the window: a bounded log, newest
//! last, of which the newest few are on screen and can be dismissed.

use std::collections::VecDeque;

use egui::{RichText, Ui};

use super::theme;

/// Messages kept (at most); the oldest is dropped first.
pub const MAX_MESSAGES: usize = 100;
/// Messages on screen at once, newest first.
const SHOWN_MESSAGES: usize = 3;

/// A user-visible message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// An error rather than a confirmation.
    pub is_error: bool,
    /// The message, as shown.
    pub text: String,
}

impl Message {
    /// An error message.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            is_error: true,
            text: text.into(),
        }
    }

    /// An informational message.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            is_error: false,
            text: text.into(),
        }
    }
}

/// The message log, bounded by [`MAX_MESSAGES`].
#[derive(Debug, Default)]
pub struct Messages {
    entries: VecDeque<Message>,
}

impl Messages {
    /// Adds `message` as the newest, dropping the oldest beyond [`MAX_MESSAGES`].
    pub fn push(&mut self, message: Message) {
        if self.entries.len() >= MAX_MESSAGES {
            self.entries.pop_front();
        }
        self.entries.push_back(message);
    }

    /// The messages, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Number of messages kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The newest messages, each with a button that dismisses it.
    pub fn messages_ui(&mut self, ui: &mut Ui) {
        let mut dismiss = None;
        for (index, message) in self.entries.iter().enumerate().rev().take(SHOWN_MESSAGES) {
            ui.horizontal(|ui| {
                let color = if message.is_error {
                    theme::ERROR
                } else {
                    theme::GOOD
                };
                ui.label(
                    RichText::new(if message.is_error { "error" } else { "ok" })
                        .color(color)
                        .strong(),
                );
                ui.label(&message.text);
                if ui.small_button("dismiss").clicked() {
                    dismiss = Some(index);
                }
            });
        }
        if let Some(index) = dismiss {
            self.entries.remove(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_and_drops_the_oldest_first() {
        let mut messages = Messages::default();
        assert!(messages.is_empty());
        for index in 0..MAX_MESSAGES + 5 {
            messages.push(Message::info(format!("m{index}")));
        }
        assert_eq!(messages.len(), MAX_MESSAGES);
        assert_eq!(messages.iter().next().map(|m| m.text.as_str()), Some("m5"));
        let newest = format!("m{}", MAX_MESSAGES + 4);
        assert_eq!(
            messages.iter().next_back().map(|m| m.text.as_str()),
            Some(newest.as_str())
        );
        messages.push(Message::error("bad"));
        assert_eq!(messages.len(), MAX_MESSAGES);
        assert!(messages.iter().next_back().is_some_and(|m| m.is_error));
    }
}
