//! The sign-in form: the tenant's API key, posted (never in a URL).

use maud::{Markup, html};

/// What the form says above its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing to say.
    None,
    /// The previous session ended (expired, key revoked or rotated, tenant deactivated).
    Ended,
    /// Signed out.
    SignedOut,
    /// The key submitted is not valid.
    BadKey,
    /// The key submitted was rotated.
    RotatedKey,
}

fn notice(notice: Notice) -> Markup {
    let (class, text) = match notice {
        Notice::None => return html! {},
        Notice::Ended => ("info", "Your session has ended. Sign in again to continue."),
        Notice::SignedOut => ("info", "You have signed out."),
        Notice::BadKey => (
            "error",
            "That API key was not accepted: it is mistyped, revoked or expired, or its tenant is deactivated.",
        ),
        Notice::RotatedKey => ("error", "That API key has been rotated. Sign in with the tenant's new key."),
    };
    let role = if class == "error" { "alert" } else { "status" };
    html! { p class=(format!("notice notice-{class}")) role=(role) { (text) } }
}

/// The sign-in page; `csrf` is the form's token (also in its cookie).
pub fn page(csrf: &str, shown: Notice) -> Markup {
    super::bare_page(
        "Sign in",
        html! {
            (notice(shown))
            form.card method="post" action="/dashboard/sign-in" {
                (super::csrf_field(csrf))
                p {
                    label for="api_key" { "Tenant API key" }
                    input #api_key type="password" name="api_key" required autocomplete="current-password"
                        spellcheck="false" aria-describedby="api_key_help";
                }
                p #api_key_help .help {
                    "The merchant API key (it starts with " code { "rpl_t_" } "). It is exchanged for a session "
                    "cookie and never stored by your browser."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}
