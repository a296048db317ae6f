// The configuration shared by the lifecycle bench, the callgrind measurement and the
// no-allocation test: a closed loop of 256 connections over a clean in-memory wire
// on a virtual clock, 64-byte requests, 256-byte responses, timestamps, window
// scaling and SACK-permitted on, checksums verified.

#[allow(dead_code)]
pub fn lifecycle_config(n: u64, close: &str) -> synfin::engine::mem_run::MemRunConfig {
    use synfin::engine::TwPolicy;
    use synfin::engine::client::ClientConfig;
    use synfin::engine::mem_run::MemRunConfig;
    use synfin::engine::pacer::PacerMode;
    use synfin::engine::server::ServerConfig;
    use synfin::io::mem::MemWireConfig;
    use synfin::tcp::{CloseMode, TcpConfig};
    let close = match close {
        "server" => CloseMode::Server,
        "rst" => CloseMode::Rst,
        _ => CloseMode::Client,
    };
    let tcp = TcpConfig { request_bytes: 64, response_bytes: 256, close, ..TcpConfig::default() };
    MemRunConfig {
        connections: n,
        mode: PacerMode::Max,
        concurrency: 256,
        client_tcp: tcp.clone(),
        server_tcp: tcp,
        client: ClientConfig {
            src_first: 0xc612_0001,
            src_count: 4,
            port_lo: 1024,
            port_hi: 65535,
            dst_ip: 0xc613_0001,
            dst_port: 80,
            tw_policy: TwPolicy::Strict,
            tw_cap: 250_000,
            max_conns: 256,
            verify_checksums: true,
            secret: 1,
            cursor_start: 0,
        },
        server: ServerConfig {
            ip: 0xc613_0001,
            port: 80,
            max_conns: 1024,
            tw_cap: 250_000,
            verify_checksums: true,
            secret: 2,
        },
        wire: MemWireConfig { frames: 4096, seed: 1, ..MemWireConfig::default() },
        virtual_time: true,
        duration_limit: Duration::from_secs(3600),
        drain: Duration::from_secs(600),
        close_timeout: Duration::from_secs(2),
    }
}
