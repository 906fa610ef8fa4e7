//! The user journeys of the foundation, in a real browser.
use super::Browser;
use crate::helpers::*;

/// Runs first-run setup in the browser and returns the admin's browser.
pub async fn set_up(app: &TestApp, name: &str, javascript: bool) -> Browser {
    let b = Browser::start(app, name, javascript).await;
    b.open("/").await;
    b.expect_path("/setup").await;
    b.expect_text("Set up keyhub").await;
    b.fill("Setup code", &app.setup_code).await;
    b.fill("Email", ADMIN_EMAIL).await;
    b.fill("Display name", "Ada").await;
    b.fill("Password", ADMIN_PASSWORD).await;
    b.fill("First workspace", WORKSPACE).await;
    b.click_button("Create admin and workspace").await;
    b.expect_path("/").await;
    b.expect_text("Welcome to keyhub").await;
    b.expect_text(&format!("You are working in {WORKSPACE} as admin")).await;
    b
}

#[tokio::test]
async fn browser_first_run_leads_through_setup_to_the_dashboard() {
    let app = TestApp::spawn().await;
    let b = set_up(&app, "first_run", true).await;
    // The current workspace is named in the top bar; with one workspace
    // there is nothing to switch to, so no switcher.
    assert_eq!(b.execute("return document.getElementById('current-workspace').textContent;").await, WORKSPACE);
    assert_eq!(b.execute("return document.getElementById('workspace-switch');").await, serde_json::Value::Null);
    b.expect_text("Dashboard").await;

    // A second workspace; the switcher changes workspace only when asked to
    // (an arrow key in the list must not switch: WCAG 3.2.2).
    b.open_user_menu().await;
    b.click_link("Profile").await;
    b.fill("Workspace name", "Finance").await;
    b.click_button("Create workspace").await;
    b.expect_text("Workspace created; you are its admin: Finance").await;
    b.expect_text("You are working in Finance as admin").await;
    // The switcher now appears, folded into the user menu.
    b.open_user_menu().await;
    b.select("Workspace", WORKSPACE).await;
    b.expect_text("You are working in Finance as admin").await;
    b.click_button("Switch").await;
    b.expect_text(&format!("You are working in {WORKSPACE} as admin")).await;
    b.close().await;
}

#[tokio::test]
async fn browser_login_with_wrong_password_then_right_then_logout() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let b = Browser::start(&app, "login", true).await;
    b.login(ADMIN_EMAIL, "this is not my password").await;
    b.expect_text("Email or password is incorrect.").await;
    assert_eq!(b.value_of("#f-email").await, ADMIN_EMAIL, "the email stays in the form");
    assert_eq!(b.value_of("#f-password").await, "", "the password is not echoed");
    // The failed post redirected back: reloading shows the form, it does not post again.
    b.client.refresh().await.expect("reload");
    b.expect_path("/login").await;
    b.expect_text("Sign in").await;
    b.expect_no_text("Email or password is incorrect.").await;
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.sign_in_failed'").await,
        1,
        "one failure, not two"
    );
    b.fill("Email", ADMIN_EMAIL).await;

    b.fill("Password", ADMIN_PASSWORD).await;
    b.click_button("Sign in").await;
    b.expect_path("/").await;
    b.open_user_menu().await;
    b.click_link("Profile").await;
    b.expect_path("/account").await;
    b.expect_text(&format!("Signed in as {ADMIN_EMAIL}")).await;

    b.open_user_menu().await;
    b.click_button("Sign out").await;
    b.expect_text("You have signed out.").await;
    // The back button must not bring back the signed-in page.
    b.client.back().await.expect("back");
    b.expect_path("/login").await;
    b.expect_no_text(&format!("Signed in as {ADMIN_EMAIL}")).await;
    b.close().await;
}

/// The admin invites a member with htmx (the link appears without a page
/// load), copies it; a second browser joins; the admin sees the new member.
#[tokio::test]
async fn browser_invite_a_colleague_who_joins() {
    let app = TestApp::spawn().await;
    let admin = set_up(&app, "invite_admin", true).await;
    // The section's name leads to its overview; its pages are one click on.
    admin.click_link("Admin").await;
    admin.expect_path("/admin").await;
    admin.expect_text("Who did what, when and from where").await;
    admin.click_link("Members").await;
    admin.expect_path("/admin/members").await;
    admin.click_link("Invitations").await;
    admin.expect_path("/admin/invitations").await;
    admin.expect_text("Invite someone").await;

    // A marker on `window` survives an htmx swap but not a page load.
    admin.execute("window.keyhubTestMarker = 'still-here'; return null;").await;
    admin.fill("Email", "bob@example.com").await;
    admin.check("#invite-panel", "data.read").await;
    admin.click_button("Create invitation link").await;
    admin.expect_text("Invitation created for bob@example.com").await;
    admin.expect_text("Pending invitations").await;
    admin.expect_text("Valid until").await;
    assert!(
        admin.focused().await.contains("invite-result"),
        "focus moves to the new link's message: {}",
        admin.focused().await
    );
    let marker = admin.execute("return window.keyhubTestMarker || null;").await;
    assert_eq!(marker, serde_json::json!("still-here"), "htmx swapped the panel without a page load");
    admin.click_button("Copy").await;
    admin.expect_text("Copied").await;
    let link = admin.value_of("#invite-link").await;
    assert!(link.contains("/invite/"), "{link}");

    let bob = Browser::start(&app, "invite_bob", true).await;
    bob.open(&link).await;
    bob.expect_text(&format!("Join {WORKSPACE}")).await;
    bob.fill("Display name", "Bob").await;
    bob.fill("Choose a password", "bob password 1234").await;
    bob.fill("Repeat the password", "bob password 1234").await;
    bob.click_button("Join workspace").await;
    bob.expect_path("/").await;
    bob.expect_text(&format!("Welcome to {WORKSPACE}")).await;
    bob.expect_text("data.read").await;

    admin.open("/admin/members").await;
    admin.expect_text("bob@example.com").await;

    // Removing, on Bob's own page, asks in a dialog first; Bob's session ends at once.
    admin.click_link("Bob").await;
    admin.expect_text("Role and permissions").await;
    admin.click_button("Remove from workspace").await;
    admin.expect_text("Remove bob@example.com from this workspace?").await;
    admin.click_dialog_button("Remove member").await;
    admin.expect_text("Removed from the workspace: Bob").await;
    admin.expect_no_text("bob@example.com").await;
    bob.open("/account").await;
    bob.expect_path("/login").await;
    bob.close().await;
    admin.close().await;
}

/// The same journey with JavaScript off: forms post normally.
#[tokio::test]
async fn browser_invite_journey_works_without_javascript() {
    let app = TestApp::spawn().await;
    let admin = set_up(&app, "nojs_admin", false).await;
    admin.click_link("Admin").await;
    admin.click_link("Members").await;
    admin.click_link("Invite someone").await;
    admin.fill("Email", "carol@example.com").await;
    admin.check("#invite-panel", "data.write").await;
    admin.click_button("Create invitation link").await;
    admin.expect_text("Invitation created for carol@example.com").await;
    admin.expect_path("/admin/invitations").await;
    let link = admin.value_of("#invite-link").await;

    let carol = Browser::start(&app, "nojs_carol", false).await;
    carol.open(&link).await;
    carol.fill("Display name", "Carol").await;
    carol.fill("Choose a password", "short").await;
    carol.fill("Repeat the password", "short").await;
    carol.click_button("Join workspace").await;
    carol.expect_text("A password has at least 12 characters.").await;
    assert_eq!(carol.value_of("#f-display_name").await, "Carol", "input kept after an error");
    carol.fill("Choose a password", "carol password 12").await;
    carol.fill("Repeat the password", "carol password 12").await;
    carol.click_button("Join workspace").await;
    carol.expect_text(&format!("Welcome to {WORKSPACE}")).await;
    carol.open_user_menu().await;
    carol.click_button("Sign out").await;
    carol.expect_text("You have signed out.").await;

    admin.open("/admin/members").await;
    admin.expect_text("carol@example.com").await;
    // Without JavaScript, removing goes through a confirmation page.
    admin.click_link("Carol").await;
    admin.click_button("Remove from workspace").await;
    admin.expect_text("Remove this member from the workspace?").await;
    admin.click_button("Remove member").await;
    admin.expect_text("Removed from the workspace: Carol").await;
    admin.expect_no_text("carol@example.com").await;
    carol.close().await;
    admin.close().await;
}

/// Account → API keys: generate (htmx swaps the card in), copy the secret,
/// use it from an HTTP client, rotate, then revoke through the dialog.
#[tokio::test]
async fn browser_personal_key_generate_use_rotate_revoke() {
    let app = TestApp::spawn().await;
    let b = set_up(&app, "keys", true).await;
    b.open_user_menu().await;
    b.click_link("API keys").await;
    b.expect_path("/account/keys").await;
    b.execute("window.keyhubTestMarker = 'still-here'; return null;").await;

    b.click_summary("+ Generate new key").await;
    b.fill("Label", "nightly export").await;
    b.check("#keys-area", "data.read").await;
    b.click_button("Generate key").await;
    b.expect_text("you will not see this secret again").await;
    assert_eq!(
        b.execute("return window.keyhubTestMarker || null;").await,
        serde_json::json!("still-here"),
        "the card was swapped in by htmx"
    );
    b.click_button("Copy").await;
    b.expect_text("Copied").await;
    let secret = b.value_of("#new-secret").await;
    assert!(secret.starts_with("khp_"), "{secret}");
    let cached = b.execute("return JSON.stringify(localStorage);").await;
    assert!(!cached.to_string().contains(&secret), "the secret never lands in htmx's history cache");

    let me = app.api("/api/v1/me", &secret).await;
    assert_eq!(me.status, reqwest::StatusCode::OK);
    assert_eq!(me.body["permissions"], serde_json::json!(["data.read"]));

    // Reloading the tab never shows the secret again.
    b.open("/account/keys").await;
    b.expect_text("nightly export").await;
    b.expect_no_text(&secret).await;

    // Rotate with no grace: the old secret stops, the new one works.
    b.select("Old secret keeps working", "not at all").await;
    b.click_button("Rotate").await;
    b.click_dialog_button("Rotate key").await;
    b.expect_text("The old secret stopped working now.").await;
    let rotated = b.value_of("#new-secret").await;
    assert_ne!(rotated, secret);
    assert_eq!(app.api("/api/v1/me", &secret).await.code.as_deref(), Some("unknown_key"));
    assert_eq!(app.api("/api/v1/me", &rotated).await.status, reqwest::StatusCode::OK);

    // Revoke: a dialog asks first; cancelling keeps the key.
    b.click_button("Revoke").await;
    b.click_dialog_button("Cancel").await;
    assert_eq!(app.api("/api/v1/me", &rotated).await.status, reqwest::StatusCode::OK);
    b.click_button("Revoke").await;
    b.click_dialog_button("Revoke key").await;
    b.expect_text("has been revoked").await;
    b.expect_text("Delete").await;
    assert_eq!(app.api("/api/v1/me", &rotated).await.code.as_deref(), Some("revoked_key"));
    b.close().await;
}

/// The keys tab without JavaScript: plain forms and pages.
#[tokio::test]
async fn browser_personal_keys_work_without_javascript() {
    let app = TestApp::spawn().await;
    let b = set_up(&app, "keys_nojs", false).await;
    b.open("/account/keys").await;
    b.click_summary("+ Generate new key").await;
    b.click_button("Generate key").await;
    b.expect_text("Give the key a label").await;
    b.fill("Label", "no-js key").await;
    b.click_button("Generate key").await;
    b.expect_text("you will not see this secret again").await;
    let secret = b.value_of("#new-secret").await;
    assert_eq!(app.api("/api/v1/me", &secret).await.status, reqwest::StatusCode::OK);
    // Without JS there is no dialog: a confirmation page asks first.
    b.click_button("Revoke").await;
    b.expect_text("Revoke this key?").await;
    b.click_button("Revoke key").await;
    b.expect_text("has been revoked").await;
    assert_eq!(app.api("/api/v1/me", &secret).await.code.as_deref(), Some("revoked_key"));
    b.close().await;
}

/// Keyboard only: generate a key, copy it, revoke it through the dialog; after
/// each htmx swap focus lands where the eyes go, never on <body>.
#[tokio::test]
async fn browser_keyboard_only_generate_copy_revoke() {
    use super::{ENTER, TAB};
    let app = TestApp::spawn().await;
    let b = set_up(&app, "keyboard", true).await;
    b.open("/account/keys").await;
    b.expect_text("No keys yet").await;
    b.tab_to("Generate new key").await;
    b.press(ENTER).await;
    b.tab_to("INPUT#f-label").await;
    b.press("keyboard key").await;
    b.tab_to("Generate key").await;
    b.press(ENTER).await;
    b.expect_text("you will not see this secret again").await;
    assert!(b.focused().await.contains("INPUT#new-secret"), "focus on the new secret: {}", b.focused().await);
    b.press(TAB).await;
    assert!(b.focused().await.contains("Copy"), "next is Copy: {}", b.focused().await);
    b.press(ENTER).await;
    b.expect_text("Copied").await;
    b.tab_to("BUTTON# Revoke").await;
    b.press(ENTER).await;
    b.expect_text("Revoke “keyboard key”?").await;
    assert!(b.focused().await.contains("Cancel"), "the dialog opens on the safe choice: {}", b.focused().await);
    b.press(TAB).await;
    assert!(
        b.focused().await.contains("Revoke key"),
        "the confirm button is named after the action: {}",
        b.focused().await
    );
    b.press(ENTER).await;
    b.expect_text("has been revoked").await;
    assert!(b.focused().await.contains("has been revoked"), "focus on the message: {}", b.focused().await);
    b.close().await;
}

/// Every page of the shell, as an admin and as a member without rights, at
/// both widths with axe-core: the dashboard, Admin's pages, a member's page,
/// the audit log, help, an error page in the frame, the no-workspace page.
#[tokio::test]
async fn browser_every_page_of_the_shell_is_accessible() {
    let app = TestApp::spawn().await;
    let admin = set_up(&app, "shell_admin", true).await;
    let bob_client = app.with_member(&app.client_for_admin().await, "bob@example.com", &["data.read"]).await;
    drop(bob_client);
    for (path, text) in [
        ("/", "Dashboard"),
        ("/admin/members", "bob@example.com"),
        ("/admin/invitations", "Pending invitations"),
        ("/admin/audit", "Audit log"),
        ("/admin/workspace", "Rename workspace"),
        ("/account", "Recent activity"),
        ("/help", "Documentation"),
        ("/api/docs", "Endpoints"),
        ("/no/such/page", "There is nothing here"),
    ] {
        admin.open(path).await;
        admin.expect_text(text).await;
    }
    // The section menu marks the current page.
    admin.open("/admin/audit").await;
    let current =
        admin.execute("return document.querySelector('.section-menu [aria-current=page]').textContent;").await;
    assert_eq!(current, serde_json::json!("Audit log"));
    admin.open("/admin/members").await;
    admin.click_link("Member").await;
    admin.expect_text("Forgotten password").await;
    admin.click_button("Create password reset link").await;
    admin.expect_text("Send this one-time link").await;
    let reset = admin.value_of("#reset-link").await;
    admin.click_button("Disable").await;
    admin.click_dialog_button("Disable member").await;
    admin.expect_text("Disabled and signed out: Member").await;

    // Bob sets a new password through the reset link (a mistake first), and,
    // being disabled, lands on the page that says so.
    let bob = Browser::start(&app, "shell_bob", true).await;
    bob.open(&reset).await;
    bob.expect_text("Choose a new password").await;
    bob.fill("New password", "too short").await;
    bob.fill("Repeat the new password", "too short").await;
    bob.click_button("Set password and sign in").await;
    bob.expect_text("A password has at least 12 characters.").await;
    bob.fill("New password", "bob's new password").await;
    bob.fill("Repeat the new password", "bob's new password").await;
    bob.click_button("Set password and sign in").await;
    bob.expect_path("/no-workspace").await;
    bob.expect_text("An admin has disabled your access to").await;
    bob.close().await;
    admin.close().await;
}
