/*! The router's nginx configuration: one `server` per host name, proxying to the address of
its instance on the stack network, and a default server that answers 404 for names devarch
does not route. A name whose instance is not running answers 503 instead of being proxied.

Everything written here is a host name checked by [`crate::resolve::domains`] (again when read
back from labels), an IPv4 address and a port, so nothing from a manifest can end a directive.
*/

use std::net::Ipv4Addr;

/// Where the configuration lives in the router container (`conf.d/*.conf` is included in
/// `http {}` by both the official nginx image and Debian's package).
pub const CONFIG_PATH: &str = "/etc/nginx/conf.d/devarch.conf";

/// The port nginx listens on inside the router container when it has a network namespace of
/// its own (the engine publishes it on the host port).
pub const LISTEN_PORT: u16 = 80;

/// One routed host name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// Host name (lower case).
    pub domain: String,
    /// Stack of the instance it is routed to.
    pub stack: String,
    /// Instance it is routed to.
    pub instance: String,
    /// The instance's address and port, `None` while it is not running.
    pub upstream: Option<(Ipv4Addr, u16)>,
    /// Claimed by containers of more than one stack: routed to none of them.
    pub disputed: bool,
}

/// The configuration text, one chunk per server block (passed to the router as separate
/// arguments, each well under the kernel's 128 KiB per-argument limit). Every server listens
/// at `listen` (nginx's `listen` syntax: `80`, `127.0.0.1:7480`).
pub fn render(routes: &[Route], listen: &str) -> Vec<String> {
    let mut out = vec![format!(
        "# Written by devarch: rewritten whenever routes change; do not edit.\n\
         map $http_upgrade $devarch_connection {{\n    default upgrade;\n    '' close;\n}}\n\
         server {{\n    listen {listen} default_server;\n    \
         default_type text/plain;\n    \
         return 404 \"devarch: no instance is routed at this host name\\n\";\n}}\n"
    )];
    for r in routes {
        let body = match r.upstream.filter(|_| !r.disputed) {
            Some((ip, port)) => format!(
                "    location / {{\n        proxy_pass http://{ip}:{port};\n        \
                 proxy_http_version 1.1;\n        \
                 proxy_set_header Host $host;\n        \
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        \
                 proxy_set_header X-Forwarded-Host $host;\n        \
                 proxy_set_header X-Forwarded-Proto $scheme;\n        \
                 proxy_set_header Upgrade $http_upgrade;\n        \
                 proxy_set_header Connection $devarch_connection;\n        \
                 proxy_read_timeout 1h;\n    }}\n"
            ),
            None if r.disputed => "    default_type text/plain;\n    \
                 return 409 \"devarch: this host name is claimed by more than one stack; `devarch plan` names them\\n\";\n"
                .to_string(),
            None => format!(
                "    default_type text/plain;\n    \
                 return 503 \"devarch: instance {} of stack {} is not running\\n\";\n",
                r.instance, r.stack
            ),
        };
        out.push(format!(
            "server {{\n    listen {listen};\n    server_name {};\n{body}}}\n",
            r.domain
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_instances_are_proxied_and_stopped_ones_answer_503() {
        let routes = [
            Route {
                domain: "web.blog.localhost".into(),
                stack: "blog".into(),
                instance: "web".into(),
                upstream: Some((Ipv4Addr::new(10, 0, 0, 2), 8080)),
                disputed: false,
            },
            Route {
                domain: "web.shop.localhost".into(),
                stack: "shop".into(),
                instance: "web".into(),
                upstream: None,
                disputed: false,
            },
        ];
        let text = render(&routes, "80").concat();
        assert!(text.contains("listen 80 default_server;"), "{text}");
        assert_eq!(text.matches("listen 80").count(), 3, "{text}");
        let host = render(&routes, "127.0.0.1:7480").concat();
        assert!(
            host.contains("listen 127.0.0.1:7480 default_server;"),
            "{host}"
        );
        assert_eq!(host.matches("listen 127.0.0.1:7480").count(), 3, "{host}");
        assert!(
            text.contains("server_name web.blog.localhost;\n    location / {\n        proxy_pass http://10.0.0.2:8080;"),
            "{text}"
        );
        assert!(
            text.contains(
                "server_name web.shop.localhost;\n    default_type text/plain;\n    return 503"
            ),
            "{text}"
        );
        assert_eq!(text.matches("proxy_pass").count(), 1);
    }
}
