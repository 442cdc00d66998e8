//! Valid input loads cleanly and normalises as documented: the built-in catalog, the
//! examples, YAML 1.2 typing, short forms, template replacement, effective config and
//! wiring, override rules, and ignored editor droppings.

use std::path::Path;

use devarch::catalog;
use devarch::manifests::types::{DependencyCondition, EnvValue, HostPort, Protocol};
use devarch::resolve::{EffectiveInstance, EnvPart};
use devarch::workspace::Workspace;

fn load_valid(dir: impl AsRef<Path>) -> Workspace {
    let dir = dir.as_ref();
    let ws = Workspace::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(
        ws.is_valid(),
        "{} has diagnostics:\n{}",
        dir.display(),
        ws.diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    ws
}

fn instance<'a>(ws: &'a Workspace, stack: &str, name: &str) -> &'a EffectiveInstance {
    ws.stacks
        .get(stack)
        .unwrap_or_else(|| panic!("no resolved stack {stack}"))
        .instances
        .get(name)
        .unwrap_or_else(|| panic!("no instance {stack}/{name}"))
}

fn env(i: &EffectiveInstance, key: &str) -> Option<String> {
    i.env.get(key).map(ToString::to_string)
}

#[test]
fn every_builtin_template_is_valid() {
    let (set, diags) = catalog::parse();
    assert!(
        diags.is_empty(),
        "{}",
        diags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(set.templates.len(), catalog::SOURCES.len());
    assert!(
        set.templates.len() >= 14,
        "only {} templates",
        set.templates.len()
    );
    assert!(set.stacks.is_empty() && set.instances.is_empty());
    assert_eq!(catalog::templates().len(), set.templates.len());
    for (name, _) in catalog::SOURCES {
        let t = set
            .templates
            .iter()
            .find(|t| t.resource.metadata.name == *name)
            .unwrap_or_else(|| panic!("catalog file {name}.yaml does not define template {name}"));
        assert!(
            t.resource.spec.service.image.is_some(),
            "{name} has no image"
        );
    }
    // The semantic checks pass too: a folder with no manifests sees only the catalog.
    let (model, diags) =
        devarch::manifests::validate::build_model(&Default::default(), catalog::templates());
    assert!(diags.is_empty(), "{diags:?}");
    assert!(model.templates.values().all(|t| t.builtin));
    for expected in [
        "postgres", "mysql", "mariadb", "redis", "nginx", "django", "node",
    ] {
        assert!(model.templates.contains_key(expected), "missing {expected}");
    }
}

#[test]
fn every_example_folder_is_valid() {
    let mut seen = 0;
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let ws = load_valid(&path);
            assert!(!ws.stacks.is_empty(), "{} has no stack", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 3, "only {seen} example folders");
}

#[test]
fn yaml_1_2_scalars_stay_strings() {
    let ws = load_valid("tests/fixtures/good/yaml-1.2-typing");
    let web = instance(&ws, "typing", "web");
    assert_eq!(env(web, "DEBUG").as_deref(), Some("no"));
    assert_eq!(env(web, "VERBOSE").as_deref(), Some("yes"));
    assert_eq!(env(web, "FEATURE_X").as_deref(), Some("on"));
    assert_eq!(env(web, "UMASK").as_deref(), Some("0022"));
    assert_eq!(env(web, "ENABLED").as_deref(), Some("true"));
    assert_eq!(env(web, "WORKERS").as_deref(), Some("4"));
    assert_eq!(env(web, "MODE").as_deref(), Some("0o755"));
    assert_eq!(env(web, "MASK").as_deref(), Some("0x1F"));
    assert_eq!(env(web, "RATIO").as_deref(), Some("1.50"));
    let modes: Vec<_> = web
        .spec
        .config_files
        .iter()
        .map(|c| c.mode.as_deref())
        .collect();
    assert_eq!(modes, vec![Some("0644"), Some("0755")]);

    // The raw documents agree: strings, not booleans or octal numbers.
    let raw = &ws.set.stacks[0].resource.spec.instances["web"].overrides;
    assert_eq!(raw.env["DEBUG"], Some(EnvValue::Text("no".into())));
    assert_eq!(raw.env["UMASK"], Some(EnvValue::Text("0022".into())));
}

#[test]
fn short_forms_load_and_normalise() {
    let ws = load_valid("tests/fixtures/good/short-forms");

    let tpl = &ws.model.templates["box"].template.spec.service;
    assert_eq!(
        tpl.command.as_deref(),
        Some(&["sh".to_string(), "-c".into(), "sleep infinity".into()][..])
    );
    assert_eq!(tpl.env["A"], Some(EnvValue::Text("1".into())));
    assert_eq!(tpl.env["B"], Some(EnvValue::Text("two=2".into())));
    assert_eq!(tpl.ports.len(), 3);
    assert_eq!(tpl.ports[0].container, 80);
    assert_eq!(tpl.ports[0].host, Some(HostPort::Fixed(8080)));
    assert_eq!(tpl.ports[0].protocol, Protocol::Tcp);
    assert_eq!(tpl.ports[1].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(tpl.ports[1].host, Some(HostPort::Fixed(5353)));
    assert_eq!(tpl.ports[1].protocol, Protocol::Udp);
    assert_eq!((tpl.ports[2].container, tpl.ports[2].host), (9000, None));
    assert_eq!(tpl.volumes[0].name.as_deref(), Some("data"));
    assert_eq!(tpl.volumes[0].source, None);
    assert_eq!(tpl.volumes[0].target, "/data");
    assert_eq!(tpl.volumes[1].source.as_deref(), Some("./src"));
    assert!(tpl.volumes[1].read_only);

    let app = instance(&ws, "short", "app");
    assert_eq!(
        app.spec.command.as_deref(),
        Some(&["sh".to_string(), "-c".into(), "x".into()][..])
    );
    // Keyed lists merge: port 80 replaced by the override, others kept; volumes appended.
    let ports: Vec<_> = app
        .spec
        .ports
        .iter()
        .map(|p| (p.container, p.host, p.protocol))
        .collect();
    assert_eq!(
        ports,
        vec![
            (80, Some(HostPort::Fixed(8081)), Protocol::Tcp),
            (53, Some(HostPort::Fixed(5353)), Protocol::Udp),
            (9000, None, Protocol::Tcp),
        ]
    );
    let targets: Vec<_> = app.spec.volumes.iter().map(|v| v.target.as_str()).collect();
    assert_eq!(targets, vec!["/data", "/src", "/var/log/app"]);
    assert_eq!(app.spec.depends_on.len(), 1);
    assert_eq!(app.spec.depends_on[0].name, "db");
    assert_eq!(
        app.spec.depends_on[0].condition,
        DependencyCondition::Started
    );
    assert_eq!(app.depends_on.len(), 1);
    assert_eq!(app.depends_on[0].instance, "db");
    // `env: [A=10, D=4]` merges by key over the template's `[A=1, B=two=2]`.
    let keys: Vec<_> = app.env.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["A", "B", "D"]);
    assert_eq!(env(app, "A").as_deref(), Some("10"));
    assert_eq!(env(app, "D").as_deref(), Some("4"));
}

#[test]
fn a_folder_template_replaces_the_builtin_one() {
    let builtin = catalog::templates()
        .iter()
        .find(|t| t.resource.metadata.name == "redis")
        .expect("built-in redis");
    assert_eq!(
        builtin.resource.spec.service.image.as_deref(),
        Some("redis:7")
    );

    let ws = load_valid("tests/fixtures/good/template-override");
    let entry = &ws.model.templates["redis"];
    assert!(!entry.builtin);
    assert!(entry.origin.file.ends_with("redis.yaml"));
    let cache = instance(&ws, "cachey", "cache");
    assert_eq!(cache.spec.image.as_deref(), Some("valkey/valkey:8"));
    // Replaced, not merged: the built-in's volume and command are gone.
    assert!(cache.spec.volumes.is_empty());
    assert_eq!(cache.spec.command, None);
    // Other built-ins are still there.
    assert!(ws.model.templates["postgres"].builtin);
}

#[test]
fn django_postgres_web_is_wired_to_the_db_with_the_secret_redacted() {
    let ws = load_valid("examples/django-postgres");
    let web = instance(&ws, "blog", "web");
    assert_eq!(web.container, "devarch-blog-web");
    assert_eq!(web.network, "devarch-blog-net");
    assert_eq!(
        env(web, "DATABASE_URL").as_deref(),
        Some("postgres://app:${secret:db/password}@devarch-blog-db:5432/app")
    );
    assert_eq!(env(web, "DB_HOST").as_deref(), Some("devarch-blog-db"));
    assert_eq!(env(web, "DB_PORT").as_deref(), Some("5432"));
    assert_eq!(env(web, "DEBUG").as_deref(), Some("1"));
    let url = &web.env["DATABASE_URL"];
    assert!(url.has_secret());
    assert!(url.0.contains(&EnvPart::Secret {
        instance: "db".into(),
        name: "password".into()
    }));
    // The serialized form (what effective-config prints) is redacted too.
    let json = serde_json::to_string(&web.env).unwrap();
    assert!(json.contains("${secret:db/password}"), "{json}");

    let db_wire = web
        .wires
        .iter()
        .find(|w| w.import == "database")
        .expect("database wire");
    assert_eq!((db_wire.provider.as_str(), db_wire.explicit), ("db", false));
    let cache_wire = web
        .wires
        .iter()
        .find(|w| w.import == "cache")
        .expect("cache wire");
    assert_eq!(cache_wire.provider, "cache");
    assert_eq!(
        env(web, "REDIS_URL").as_deref(),
        Some("redis://devarch-blog-cache:6379/0")
    );
    let dep = web
        .depends_on
        .iter()
        .find(|d| d.instance == "db")
        .expect("depends on db");
    assert_eq!(dep.condition, DependencyCondition::Healthy);
}

#[test]
fn consumer_env_beats_wired_values_and_null_deletes() {
    let ws = load_valid("tests/fixtures/good/overrides");
    let web = instance(&ws, "blog", "web");
    // The override wins over the value wired from the postgres export.
    assert_eq!(env(web, "DB_HOST").as_deref(), Some("db.override.internal"));
    // Other wired values are untouched.
    assert_eq!(env(web, "DB_PORT").as_deref(), Some("5432"));
    assert!(
        env(web, "DATABASE_URL")
            .unwrap()
            .contains("@devarch-blog-db:")
    );
    // `null` deletes a template key and a wired key.
    assert_eq!(env(web, "PYTHONUNBUFFERED"), None);
    assert_eq!(env(web, "DB_PASSWORD"), None);
    assert!(!web.spec.env.contains_key("PYTHONUNBUFFERED"));
    // A key the template does not have is added; one it has and nobody touched stays.
    assert_eq!(env(web, "EXTRA").as_deref(), Some("1"));
    assert_eq!(env(web, "PYTHONDONTWRITEBYTECODE").as_deref(), Some("1"));
}

#[test]
fn editor_droppings_and_hidden_folders_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::copy("examples/django-postgres/blog.yaml", root.join("blog.yaml")).unwrap();
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::copy(
        "examples/django-postgres/cache.yaml",
        root.join("nested/deeper/cache.yml"),
    )
    .unwrap();
    let broken = "kind: [unclosed\n  : : :\n";
    for name in [
        ".hidden.yaml",
        "blog.yaml~",
        "x.yaml~",
        "x.yaml.swp",
        ".x.yaml.swp",
        "x.yaml.swx",
        "4913",
        "x.tmp",
        "x.yaml.tmp",
        "notes.txt",
        "nested/.hidden.yml",
        "nested/4913",
    ] {
        std::fs::write(root.join(name), broken).unwrap();
    }
    for dir in [".git", ".git/refs", "nested/.cache"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join(".git/config.yaml"), broken).unwrap();
    std::fs::write(root.join(".git/refs/head.yml"), broken).unwrap();
    std::fs::write(root.join("nested/.cache/stack.yaml"), broken).unwrap();

    let ws = load_valid(root);
    let files: Vec<_> = ws
        .set
        .files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        files,
        vec![
            Path::new("blog.yaml").to_path_buf(),
            Path::new("nested/deeper/cache.yml").to_path_buf()
        ]
    );
    assert_eq!(instance(&ws, "blog", "cache").template, "redis");
}

#[test]
fn several_documents_per_file_and_any_depth() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("a/b/c")).unwrap();
    std::fs::write(
        tmp.path().join("a/b/c/all.yaml"),
        "---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: one}\n---\n# empty document\n---\napiVersion: devarch.io/v1alpha1\nkind: Instance\nmetadata: {name: cache}\nspec: {stack: one, template: redis}\n...\n",
    )
    .unwrap();
    let ws = load_valid(tmp.path());
    assert_eq!(instance(&ws, "one", "cache").container, "devarch-one-cache");
}

#[test]
fn exports_take_the_providers_overridden_env() {
    let ws = load_valid("tests/fixtures/good/provider-env");
    let web = instance(&ws, "shop", "web");
    assert_eq!(
        env(web, "DATABASE_URL").as_deref(),
        Some("postgres://blog:s3cret-in-the-manifest@devarch-shop-db:5432/blogdb")
    );
    let api = instance(&ws, "shop", "api");
    assert_eq!(env(api, "DB_USERNAME").as_deref(), Some("shop"));
    assert_eq!(env(api, "DB_DATABASE").as_deref(), Some("orders"));
    // The provider's generated password stays a reference to its secret.
    assert_eq!(
        env(api, "DB_PASSWORD").as_deref(),
        Some("${secret:maria/password}")
    );
}

#[test]
fn an_attribute_naming_a_variable_the_provider_lacks_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: db}\nspec:\n  image: postgres:16\n  exports: [{name: pg, type: postgres, port: 5432, attributes: {user: \"{{env.NOPE}}\"}}]\n---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: shop}\nspec:\n  instances:\n    db: {template: db}\n    web: {template: django}\n",
    )
    .unwrap();
    let ws = Workspace::load(dir.path()).unwrap();
    let text: Vec<String> = ws.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("attribute user of db's export \"pg\" is \"{{env.NOPE}}\"")),
        "{text:?}"
    );
}
