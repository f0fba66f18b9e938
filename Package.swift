// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "moonport",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "moonport", targets: ["moonport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // HTTP: one shared client, connection pooling, TLS, HTTP/1.1 and HTTP/2.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The vendor simulator (VendorSim) uses SwiftNIO directly and swift-crypto for
        // S3 SigV4; both are already in the graph through async-http-client, so they
        // add no package and no build time (see Sources/VendorSim/HTTPServer.swift).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // credentials.toml (`moonport.credentials`).
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // `--state postgres://...`: the state store shared by workers on many machines.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // TLS to PostgreSQL (already in the graph through async-http-client and postgres-nio).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
    ],
    targets: [
        // The system Lua 5.4 (Debian: liblua5.4-dev).
        .systemLibrary(
            name: "CLua",
            path: "Sources/CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // The system SQLite (Debian: libsqlite3-dev), for `state`: a few
        // statements on one table need no ORM and no package to build.
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // BSD libedit for the REPL (not GNU readline).
        .systemLibrary(
            name: "CEditline",
            path: "Sources/CEditline",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // The only C code that may raise or yield: trampoline, continuations,
        // coroutine wrappers, traceback handler, Ctrl-C hook.
        .target(
            name: "CMoonport",
            dependencies: ["CLua"],
            path: "Sources/CMoonport"
        ),
        // The Swift <-> Lua layer: values, functions, userdata, errors, the scheduler.
        .target(
            name: "LuaBridge",
            dependencies: ["CLua", "CMoonport"],
            path: "Sources/LuaBridge"
        ),
        // The runtime: built-in modules (json, log, ...), module path, stdlib.
        .target(
            name: "MoonportCore",
            dependencies: [
                "LuaBridge",
                "CSQLite",
                "DocIndex",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/MoonportCore",
            plugins: ["EmbedStdlib"]
        ),
        // The built-in vendor simulator (`moonport sim`, `--sandbox`): all five
        // vendor APIs on loopback with job life cycles, limits and seeded faults.
        .target(
            name: "VendorSim",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/VendorSim"
        ),
        .executableTarget(
            name: "moonport",
            dependencies: [
                "MoonportCore",
                "VendorSim",
                "CEditline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/moonport",
            exclude: ["exports.map"],
            // Start-up (scripts/bench/startup.py): the executable exports no
            // symbols (42,000 did, and the Swift runtime's dladdr at start-up
            // scanned them all), and its relative relocations are packed (RELR:
            // glibc 2.36 or later, Debian 12), which lld writes.
            linkerSettings: [
                .unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/moonport/exports.map",
                ])
            ]
        ),
        // The floor under the small GETs of scripts/bench/http.py: the HTTP
        // client alone, with the thread hop, with moonport's transport.
        .executableTarget(
            name: "TransportFloor",
            dependencies: ["MoonportCore", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Sources/TransportFloor"),
        // Compiles stdlib/*.lua into the binary (no files beside the executable).
        .executableTarget(name: "EmbedStdlibTool", dependencies: ["DocIndex"], path: "Sources/EmbedStdlibTool"),
        // The one reader of the `---` doc blocks: run by EmbedStdlibTool at
        // build time (the index compiled in), and at run time only for a
        // script's own file or MOONPORT_STDLIB_DIR.
        .target(name: "DocIndex", path: "Sources/DocIndex"),
        .plugin(
            name: "EmbedStdlib",
            capability: .buildTool(),
            dependencies: ["EmbedStdlibTool"],
            path: "Plugins/EmbedStdlib"
        ),
        .testTarget(
            name: "LuaBridgeTests",
            dependencies: ["LuaBridge", "MoonportCore"],
            path: "Tests/LuaBridgeTests"
        ),
        .testTarget(
            name: "MoonportCoreTests",
            dependencies: ["MoonportCore"],
            path: "Tests/MoonportCoreTests"
        ),
        .testTarget(
            name: "VendorSimTests",
            dependencies: [
                "VendorSim",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/VendorSimTests"
        ),
        .testTarget(
            name: "CLITests",
            // VendorSim: its HTTP server also serves the http tests' routes
            // (Tests/CLITests/TestHTTPServer.swift), so no Python is needed.
            dependencies: [
                "VendorSim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/CLITests"
        ),
    ]
)
