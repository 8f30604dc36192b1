//! The demo federation as `idp demo` runs it — the demo delivery imported, the demo trust
//! domain (`deploy/federation/demo`) compiled with the demo services registered at the
//! test's ports, the IdP, "Vie scolaire (démo)" (CAS) and "Ressources numériques (démo)"
//! (SAML, sp-adapter's SP with its DEMO-ONLY key) — driven by a browser without
//! JavaScript: SAML login with the released attributes shown, SSO into the CAS service
//! without a password, SP-initiated single logout reaching the CAS service by its back
//! channel, and IdP-initiated logout reaching the SAML service.

use std::time::{Duration, Instant};

use idp::cli::demo::{self, DemoBinds, Secret};
use idp::ports::{Clock as _, SystemClock};
use idp_tests::procs::free_port;
use idp_tests::saml_sp::{resolve, saml_login, Form};
use idp_tests::{test_settings, Browser, Page};

/// Follows redirects from `url` (at most 10), returning the last page and its URL.
fn follow(b: &Browser, url: &str) -> (String, Page) {
    let mut url = url.to_owned();
    let mut page = b.get_url(&url);
    for _ in 0..10 {
        let Some(loc) = page
            .location()
            .filter(|_| (300..400).contains(&page.status))
        else {
            break;
        };
        url = resolve(&url, loc);
        page = b.get_url(&url);
    }
    (url, page)
}

/// The `src` of every `<iframe>` of `html`.
fn iframes(html: &str) -> Vec<String> {
    html.split("<iframe")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let start = tag.find("src=\"")? + 5;
            Some(tag[start..start + tag[start..].find('"')?].to_owned())
        })
        .collect()
}

#[test]
fn saml_demo_service_logs_in_shares_sso_with_cas_and_logs_out_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let idp_bind = format!("127.0.0.1:{}", free_port());
    let mut settings =
        demo::settings_for(test_settings(), &tmp.path().join("demo-data"), &idp_bind);
    let (directory, accounts) = demo::prepare(&settings, SystemClock.today()).unwrap();
    let binds = DemoBinds {
        cas: format!("127.0.0.1:{}", free_port()),
        saml: format!("127.0.0.1:{}", free_port()),
    };
    demo::prepare_federation_for(&mut settings, &binds).unwrap();
    let backends = idp::app::Backends::with_directory(&settings, directory.reader).unwrap();
    let server = idp::app::spawn(&settings, backends, &idp_bind).unwrap();
    let idp = server.url();
    let cas = demo::start_cas_service(&settings, &binds.cas).unwrap();
    let saml = demo::start_saml_service(&settings, &binds.saml).unwrap();
    let lea = accounts.iter().find(|a| a.login == "lea.fontaine").unwrap();
    let Secret::Password(password) = &lea.secret else {
        panic!("lea.fontaine has a password")
    };

    // The SP publishes its metadata at its entityID.
    let b = Browser::new("");
    let meta = b.get_url(&format!("{}saml/metadata", saml.url));
    assert_eq!(meta.status, 200);
    assert!(meta
        .body
        .contains(&format!("entityID=\"http://{}/saml/metadata\"", binds.saml)));

    // 1. The SAML service sends the person to the IdP, which asks for the password and
    //    posts a signed assertion back; the service shows exactly what it was released.
    let walk = saml_login(&b, &saml.url, &idp, (&lea.login, password));
    assert!(walk.password_asked, "{}", walk.trace());
    assert!(
        walk.steps[1]
            .url
            .starts_with(&format!("{idp}/saml/sso?SAMLRequest=")),
        "{}",
        walk.trace()
    );
    let page = &walk.page;
    assert_eq!(page.status, 200, "{}\n{}", walk.trace(), page.body);
    assert!(
        page.body
            .contains("<strong id=\"user\">Léa FONTAINE</strong>"),
        "{}",
        page.body
    );
    for shown in [
        "<th>idEnt</th><td>ENTDEMO</td>",
        "<th>GARPersonNom</th><td>FONTAINE</td>",
        "<th>GARPersonPrenom</th><td>Léa</td>",
        "<th>GARPersonEtab</th><td>0999001A</td>",
        "<th>GARPersonIdentifiant</th>",
        "<th>GARPersonProfils</th>",
    ] {
        assert!(
            page.body.contains(shown),
            "{shown} missing in {}",
            page.body
        );
    }
    for not_released in ["dateNaissance", "categories", "<th>nom</th>"] {
        assert!(!page.body.contains(not_released), "{not_released} released");
    }
    // The same SAMLResponse posted again: refused (assertion replay), no second session.
    let form = walk.response_form.clone().unwrap();
    let replay = b.post_form(
        &form.action,
        &[("SAMLResponse", form.field("SAMLResponse").unwrap())],
    );
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("replayed"), "{}", replay.body);

    // 2. The CAS service gets in through the IdP's session: no password asked.
    let res = b.get_url(&cas.url);
    assert_eq!(res.status, 302);
    let login = res.location().unwrap().to_owned();
    assert!(
        login.starts_with(&format!("{idp}/login?service=")),
        "{login}"
    );
    let res = b.get_url(&login);
    assert_eq!(res.status, 302, "the IdP asked again: {}", res.body);
    let back = res.location().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{}?ticket=ST-", cas.url)),
        "{back}"
    );
    let (_, cas_page) = follow(&b, &back);
    assert!(
        cas_page
            .body
            .contains("<strong id=\"user\">lea.fontaine</strong>"),
        "{}",
        cas_page.body
    );

    // 3. "Se déconnecter" at the SAML service: a signed LogoutRequest to the IdP, which
    //    ends its session (and tells the CAS service by its back channel), then answers
    //    the service with a signed LogoutResponse.
    let res = b.get_url(&format!("{}logout", saml.url));
    assert_eq!(res.status, 302);
    let to_idp = res.location().unwrap().to_owned();
    assert!(
        to_idp.starts_with(&format!("{idp}/saml/slo?SAMLRequest=")),
        "{to_idp}"
    );
    let res = b.get_url(&to_idp);
    assert_eq!(res.status, 302, "{}", res.body);
    let answer = res.location().unwrap().to_owned();
    assert!(
        answer.starts_with(&format!("{}saml/slo?SAMLResponse=", saml.url)),
        "{answer}"
    );
    let done = b.get_url(&answer);
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body
            .contains("Vous êtes déconnecté(e) de ce service et de l'ENT."),
        "{}",
        done.body
    );
    let welcome = b.get_url(&format!("{idp}/"));
    assert!(
        !welcome.body.contains("action=\"/logout\""),
        "the IdP session survived the SAML logout"
    );
    // The CAS service's session ended by the IdP's back-channel logoutRequest.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = b.get_url(&cas.url);
        if again.status == 302 {
            assert!(again
                .location()
                .unwrap()
                .starts_with(&format!("{idp}/login?service=")));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the CAS service session survived the SAML logout"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the SAML service's own session is gone: off to the IdP again.
    let res = b.get_url(&saml.url);
    assert_eq!(res.status, 302);

    // 4. IdP-initiated: logged in again at the SAML service, then the IdP's own logout
    //    button. The logged-out page carries a frame with the IdP's signed LogoutRequest
    //    for the service; the service ends its session and answers, signed.
    let walk = saml_login(&b, &saml.url, &idp, (&lea.login, password));
    assert!(walk.password_asked, "{}", walk.trace());
    assert_eq!(walk.page.status, 200, "{}", walk.trace());
    assert!(walk.page.body.contains("id=\"nameid\""));
    let welcome = b.get_url(&format!("{idp}/"));
    let logout_form = Form::all(&welcome.body)
        .into_iter()
        .find(|f| f.action == "/logout")
        .unwrap_or_else(|| panic!("no logout form in {}", welcome.body));
    let fields: Vec<(&str, &str)> = logout_form
        .fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let logged_out = b.post_form(&format!("{idp}/logout"), &fields);
    assert_eq!(logged_out.status, 200, "{}", logged_out.body);
    let frames = iframes(&logged_out.body);
    assert_eq!(frames.len(), 1, "{}", logged_out.body);
    assert!(
        frames[0].starts_with(&format!("{}saml/slo?SAMLRequest=", saml.url)),
        "{}",
        frames[0]
    );
    let res = b.get_url(&frames[0]);
    assert_eq!(res.status, 302, "{}", res.body);
    let answer = res.location().unwrap().to_owned();
    assert!(
        answer.starts_with(&format!("{idp}/saml/slo?SAMLResponse=")),
        "{answer}"
    );
    let idp_side = b.get_url(&answer);
    assert_eq!(idp_side.status, 200, "{}", idp_side.body);
    assert!(
        idp_side.body.contains("Déconnecté / Logged out"),
        "the IdP did not take the service's LogoutResponse: {}",
        idp_side.body
    );
    // The service's session is gone: its page sends the person to the IdP again.
    let res = b.get_url(&saml.url);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(res
        .location()
        .unwrap()
        .starts_with(&format!("{idp}/saml/sso?SAMLRequest=")));
    // The same LogoutRequest a second time: refused by the service (replay).
    let again = b.get_url(&frames[0]);
    assert_eq!(again.status, 400, "{}", again.body);

    drop(server);
}
