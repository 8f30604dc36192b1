//! The demo federation's CAS service (sp-adapter's `demo`) against the running IdP: it
//! sends the person to the IdP, gets in with the ticket and shows exactly the attributes
//! released to it; the IdP's logout ends its session through the back channel.

use idp_tests::procs::free_port;
use idp_tests::registry::{CasService, TestRegistry};
use idp_tests::{TestIdp, LEA_PASSWORD};

#[test]
fn demo_service_logs_in_through_the_idp_and_is_logged_out_by_it() {
    let port = free_port();
    let service_url = format!("http://127.0.0.1:{port}/");
    let registry = TestRegistry::new();
    let domain = registry.publish(&[CasService::pronote_like("demo", &service_url)]);
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
    idp.add_fixtures();
    let (_, server) = sp_adapter::demo::spawn(
        sp_adapter::demo::DemoService {
            name: "Vie scolaire (démo)".into(),
            public_url: service_url.clone(),
            cas_base: idp.at(""),
        },
        &format!("127.0.0.1:{port}"),
    )
    .unwrap();

    let b = idp.browser();
    // Not logged in at the service: off to the IdP's CAS login for this service.
    let res = b.get_url(&service_url);
    assert_eq!(res.status, 302);
    let login_url = res.location().unwrap().to_owned();
    assert!(
        login_url.starts_with(&idp.at("/login?service=")),
        "{login_url}"
    );
    let form = b.get_url(&login_url);
    assert_eq!(form.status, 200);
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("service", &service_url),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let back = res.location().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{service_url}?ticket=ST-")),
        "{back}"
    );
    // The service validates the ticket with the IdP and opens its own session.
    let res = b.get_url(&back);
    assert_eq!(res.status, 302);
    let page = b.get_url(&service_url);
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<strong id=\"user\">lea.dupont</strong>"),
        "{}",
        page.body
    );
    for shown in [
        "<th>nom</th><td>DUPONT</td>",
        "<th>prenom</th><td>Léa</td>",
        "<th>categories</th><td>National_1</td>",
    ] {
        assert!(
            page.body.contains(shown),
            "{shown} missing in {}",
            page.body
        );
    }
    assert!(
        !page.body.contains("ENTPersonStructRattachUAI"),
        "not released to this service"
    );

    // Logging out at the IdP ends the service's session too (back-channel logoutRequest).
    let res = b.get(&format!(
        "/logout?service={}",
        sp_adapter::cas::encode(&service_url)
    ));
    assert_eq!(res.location(), Some(service_url.as_str()));
    let again = b.get_url(&service_url);
    assert_eq!(
        again.status, 302,
        "the service session survived the IdP logout"
    );
    assert!(again
        .location()
        .unwrap()
        .starts_with(&idp.at("/login?service=")));
    drop(server);
}
