// A test bed with the kernel's TCP server listening on port 80 in its DUT namespace
// (root tests of whole runs against the kernel).
#![allow(dead_code)] // each test binary uses some of it

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use synfin::io::socket::{ServerStats, SocketServer, SocketServerConfig};
use synfin::tcp::CloseMode;
use synfin::testbed::{Testbed, TestbedConfig, TestbedGuard, netns};

/// The test bed (removed when dropped, also on a failing test) and its server.
pub struct KernelDut {
    pub tb: Testbed,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<std::io::Result<ServerStats>>>,
    // Last: dropped after the server has stopped.
    _guard: TestbedGuard,
}

impl KernelDut {
    /// Test bed `name` with 16 sources; one server thread, 64-byte requests,
    /// 256-byte responses, the client closes.
    pub fn up(name: &str) -> KernelDut {
        KernelDut::up_with(
            name,
            1,
            SocketServerConfig {
                threads: 1,
                request_bytes: 64,
                response_bytes: 256,
                close: CloseMode::Client,
                ..SocketServerConfig::default()
            },
        )
    }

    /// Test bed `name` with 16 sources and `queues` queues, and a server of `srv`
    /// (its address is set to the DUT's, port 80).
    pub fn up_with(name: &str, queues: u32, srv: SocketServerConfig) -> KernelDut {
        let guard = TestbedGuard::new(name);
        let tb = Testbed::up(&TestbedConfig {
            queues,
            sources: 16,
            ..TestbedConfig::named(name.to_owned())
        })
        .expect("test bed");
        let srv = SocketServerConfig {
            addr: SocketAddrV4::new(tb.config().dut_addr, 80),
            ..srv
        };
        let (server, _) = netns::run_in(&tb.dut_ns(), || SocketServer::bind(srv))
            .unwrap()
            .expect("listen");
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || server.run(&stop))
        };
        KernelDut {
            tb,
            stop,
            server: Some(server),
            _guard: guard,
        }
    }

    /// `run --io xdp` options that aim synfin at the server from the generator side.
    pub fn xdp_args(&self) -> Vec<String> {
        let c = self.tb.config();
        let (first, last) = c.src_range();
        [
            "run".to_owned(),
            "--io".into(),
            "xdp".into(),
            "--netns".into(),
            self.tb.gen_ns(),
            "--interface".into(),
            self.tb.gen_if(),
            "--src".into(),
            format!("{first}-{last}"),
            "--dst".into(),
            format!("{}:80", c.dut_addr),
        ]
        .into()
    }

    /// Stop the server and return what it counted.
    pub fn stop_server(&mut self) -> ServerStats {
        self.stop.store(true, Ordering::Relaxed);
        self.server
            .take()
            .expect("server running")
            .join()
            .unwrap()
            .expect("server")
    }
}

impl Drop for KernelDut {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
    }
}
