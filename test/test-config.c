/* test-config.c: unit tests for gateway/config: flags, the --config file, which wins, and errors that name the file and line. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every case runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "config.h"
#include "nearby-version.h"

#define ARGS_MAX 32
#define CONFIG_TEST_LINE 4096 /* the longest line config.c takes */

static char dir[] = "/tmp/nearby-test-config.XXXXXX";
static char key_path[256], conf_path[256];
static char out[8192], err[8192]; /* what the last parse printed */

/* Writes text to path (truncating), readable by its owner alone, as key files must be. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, 0600) != 0) {
        perror(path);
        exit(1);
    }
}

/* Reads what fd (a temp file) got since it was made into buf, then closes it. */
static void slurp(int fd, char *buf, size_t cap)
{
    ssize_t n;
    size_t len = 0;

    lseek(fd, 0, SEEK_SET);
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
}

/* Runs gateway_config_parse on the NULL-terminated flags (argv[0] added),
 * with stdout and stderr caught in out and err. Returns what it returned. */
static int parse(struct gateway_config *cfg, ...)
{
    char *argv[ARGS_MAX + 1] = {"nearby-gateway"};
    char out_path[300], err_path[300];
    int argc = 1, rc, saved_out, saved_err, fd_out, fd_err;
    va_list ap;

    va_start(ap, cfg);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < ARGS_MAX;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
    fd_out = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    fd_err = open(err_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd_out < 0 || fd_err < 0) {
        perror("open");
        exit(1);
    }
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    rc = gateway_config_parse(cfg, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(fd_out, out, sizeof(out));
    slurp(fd_err, err, sizeof(err));
    return rc;
}

#define CHECK_ERR(needle) CHECK_IN(strstr(err, needle) != NULL, err)

static void test_flags_only(void)
{
    struct gateway_config cfg;

    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, NULL), 0);
    CHECK(strcmp(cfg.listen, "127.0.0.1:8080") == 0);
    CHECK(strcmp(cfg.id, "127.0.0.1_8080") == 0);
    CHECK_EQ(cfg.drain_seconds, 10);
    CHECK_EQ(cfg.jwt_key_count, 1);
    CHECK_EQ(cfg.jwt_keys[0].alg, TOKEN_ALG_HS256);
    CHECK_EQ(cfg.jwt_keys[0].len, 32);
    CHECK(memcmp(cfg.jwt_keys[0].secret, "0123456789abcdef0123456789abcdef", 32) == 0);
    CHECK_EQ(cfg.origin_count, 0);
    CHECK_IN(err[0] == '\0', err);
}

/* Every kind of value from the file, with comments, blanks, tabs and CRLF. */
static void test_file(void)
{
    struct gateway_config cfg;
    char text[2048];

    snprintf(text, sizeof(text),
             "# nearby-gateway test config\n"
             "\n"
             "listen = 127.0.0.1:9001\n"
             "   id=gw-a\n"
             "zk\t=\t127.0.0.1:2191,127.0.0.1:2192  \n"
             "pg = host=db port=5433 user=nearby dbname=nearby\r\n"
             "    # an indented comment: id = not-this\n"
             "jwt-secret-file = %s\n"
             "radius-km = 2.5\n"
             "max-radius-km = 20\n"
             "location-ttl = 120\n"
             "drain-seconds = 25\n"
             "loc-rate = 0.5\n"
             "loc-burst = 3\n"
             "zk-session-timeout-ms = 4000\n"
             "root = /nearby-test\n"
             "ring = blue\n"
             "cache = 127.0.0.1:6380\n"
             "allow-origin = https://a.example\n"
             "allow-origin = https://b.example#x\n",
             key_path);
    write_file(conf_path, text);
    CHECK_EQ(parse(&cfg, "--config", conf_path, NULL), 0);
    CHECK_IN(err[0] == '\0', err);
    CHECK(strcmp(cfg.listen, "127.0.0.1:9001") == 0);
    CHECK(strcmp(cfg.id, "gw-a") == 0);
    CHECK(strcmp(cfg.zk, "127.0.0.1:2191,127.0.0.1:2192") == 0);
    CHECK(strcmp(cfg.pg, "host=db port=5433 user=nearby dbname=nearby") == 0);
    CHECK(strcmp(cfg.root, "/nearby-test") == 0);
    CHECK(strcmp(cfg.ring, "blue") == 0);
    CHECK(strcmp(cfg.cache, "127.0.0.1:6380") == 0);
    CHECK(cfg.radius_km == 2.5);
    CHECK(cfg.max_radius_km == 20.0);
    CHECK_EQ(cfg.location_ttl_s, 120);
    CHECK_EQ(cfg.drain_seconds, 25);
    CHECK(cfg.loc_rate == 0.5);
    CHECK_EQ(cfg.loc_burst, 3);
    CHECK_EQ(cfg.session_timeout_ms, 4000);
    CHECK_EQ(cfg.jwt_keys[0].len, 32);
    CHECK_EQ(cfg.origin_count, 2);
    CHECK(strcmp(cfg.origins[0], "https://a.example") == 0);
    /* '#' inside a value is the value's, not a comment. */
    CHECK(strcmp(cfg.origins[1], "https://b.example#x") == 0);
    CHECK_EQ(cfg.check_only, 0);
}

/* Flags on the command line win over the file, before or after --config. */
static void test_command_line_wins(void)
{
    struct gateway_config cfg;
    char text[1024];

    snprintf(text, sizeof(text),
             "listen = 127.0.0.1:9001\n"
             "drain-seconds = 25\n"
             "jwt-secret-file = /nonexistent/key\n"
             "allow-origin = https://a.example\n"
             "allow-origin = https://b.example\n"
             "radius-km = 30\n");
    write_file(conf_path, text);
    CHECK_EQ(parse(&cfg, "--listen", "127.0.0.1:9002", "--config", conf_path,
                   "--jwt-secret-file", key_path, "--allow-origin", "https://c.example",
                   "--allow-origin", "https://d.example", "--check-config", NULL), 0);
    CHECK_IN(err[0] == '\0', err);
    CHECK(strcmp(cfg.listen, "127.0.0.1:9002") == 0);
    CHECK_EQ(cfg.drain_seconds, 25); /* not on the command line: the file's */
    CHECK(cfg.radius_km == 30.0);
    CHECK_EQ(cfg.jwt_keys[0].len, 32);   /* the command line's key file, not the file's */
    CHECK_EQ(cfg.origin_count, 2);   /* the command line's list replaced the file's */
    CHECK(strcmp(cfg.origins[0], "https://c.example") == 0);
    CHECK(strcmp(cfg.origins[1], "https://d.example") == 0);
    CHECK_EQ(cfg.check_only, 1);

    /* A bad value on the command line is refused even when the file is fine. */
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--jwt-secret-file", key_path,
                   "--drain-seconds", "soon", NULL), -1);
    CHECK_ERR("bad value for --drain-seconds: 'soon'");

    /* The checks across flags see both sources: the file's radius above the
     * command line's maximum. */
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--jwt-secret-file", key_path,
                   "--max-radius-km", "10", NULL), -1);
    CHECK_ERR("--radius-km 30.000 is above --max-radius-km 10.000");
}

/* Each mistake in the file is refused with the file's name and the line. */
static void test_file_errors(void)
{
    static const struct {
        const char *text;
        const char *message; /* after "PATH:" */
    } cases[] = {
        {"listen = 127.0.0.1:9001\n\n# ok so far\nlissten = 127.0.0.1:9002\n",
         ":4: unknown key 'lissten'"},
        {"drain-seconds = ten\n", ":1: bad value for drain-seconds: 'ten'"},
        {"drain-seconds = 10 # seconds\n", ":1: bad value for drain-seconds: '10 # seconds'"},
        {"\n--listen = 127.0.0.1:9001\n", ":2: unknown key '--listen': write it without the '--'"},
        {"listen 127.0.0.1:9001\n", ":1: want 'key = value', not 'listen 127.0.0.1:9001'"},
        {"listen =\n", ":1: bad value for listen: ''"},
        {"listen = nowhere\n", ":1: bad value for listen: 'nowhere'"},
        {"check-config = yes\n", ":1: unknown key 'check-config'"},
        {"help = 1\n", ":1: unknown key 'help'"},
        {"version = 1\n", ":1: unknown key 'version'"},
        {"config = /etc/other.conf\n", ":1: unknown key 'config'"},
        {"= 5\n", ":1: unknown key ''"},
        {"radius-km = -1\n", ":1: bad value for radius-km: '-1'"},
        {"loc-burst = 0\n", ":1: bad value for loc-burst: '0'"},
        {"root = relative\n", ":1: bad value for root: 'relative'"},
    };
    struct gateway_config cfg;
    char want[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(conf_path, cases[i].text);
        CHECK_IN(parse(&cfg, "--config", conf_path, "--jwt-secret-file", key_path, NULL) == -1,
                 cases[i].text);
        snprintf(want, sizeof(want), "nearby-gateway: %s%s", conf_path, cases[i].message);
        CHECK_IN(strstr(err, want) != NULL, err);
    }
}

static void test_file_unreadable(void)
{
    struct gateway_config cfg;
    char path[300], line[CONFIG_TEST_LINE + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    CHECK_EQ(parse(&cfg, "--config", path, "--jwt-secret-file", key_path, NULL), -1);
    CHECK_ERR("--config ");
    CHECK_ERR("missing.conf: No such file or directory");

    /* A line over 4096 bytes is refused, not cut into a shorter value. */
    memset(line, 'a', sizeof(line));
    memcpy(line, "pg = ", 5);
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    f = fopen(conf_path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("listen = 127.0.0.1:9001\n", f);
        fputs(line, f);
        fclose(f);
    }
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--jwt-secret-file", key_path, NULL), -1);
    CHECK_ERR(":2: line longer than 4096 bytes");

    /* The key file named in the config file is read and its errors named. */
    write_file(conf_path, "jwt-secret-file = /nonexistent/jwt-secret\n");
    CHECK_EQ(parse(&cfg, "--config", conf_path, NULL), -1);
    CHECK_ERR("--jwt-secret-file /nonexistent/jwt-secret:");
}

static void test_help_and_version(void)
{
    struct gateway_config cfg;
    char want[64];

    CHECK_EQ(parse(&cfg, "--version", NULL), 1);
    snprintf(want, sizeof(want), "nearby-gateway %s\n", NEARBY_VERSION);
    CHECK_IN(strcmp(out, want) == 0, out);
    /* Help and version answer even with a broken config file or flags. */
    write_file(conf_path, "nonsense\n");
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--help", NULL), 1);
    CHECK(strstr(out, "--config FILE") != NULL);
    CHECK(strstr(out, "--version") != NULL);
    CHECK_EQ(parse(&cfg, "--drain-seconds", "x", "-h", NULL), 1);
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--version", NULL), 1);
    CHECK_EQ(parse(&cfg, "--no-such-flag", "--jwt-secret-file", key_path, NULL), -1);
    CHECK_ERR("unknown flag or missing value: '--no-such-flag'");
    CHECK_EQ(parse(&cfg, "--config", NULL), -1);
    CHECK_ERR("unknown flag or missing value: '--config'");
}

/* Nothing of one parse leaks into the next. */
static void test_parse_again(void)
{
    struct gateway_config cfg;
    char text[512];

    snprintf(text, sizeof(text), "listen = 127.0.0.1:9001\nallow-origin = https://a.example\n"
                                 "jwt-secret-file = %s\n", key_path);
    write_file(conf_path, text);
    CHECK_EQ(parse(&cfg, "--config", conf_path, NULL), 0);
    CHECK_EQ(cfg.origin_count, 1);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, NULL), 0);
    CHECK(strcmp(cfg.listen, "127.0.0.1:8080") == 0);
    CHECK_EQ(cfg.origin_count, 0);
    /* Without any key file it is an error again, not the last parse's. */
    CHECK_EQ(parse(&cfg, NULL), -1);
    CHECK_ERR("--jwt-secret-file or --jwt-public-key-file is required");
}

/* An Ed25519 public key alone, or beside an HS256 secret; never the private key. */
static void test_eddsa_keys(void)
{
    static const char priv[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                               "-----END PRIVATE KEY-----\n";
    static const char pub[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                              "-----END PUBLIC KEY-----\n";
    struct gateway_config cfg;
    char priv_path[300], pub_path[300];

    snprintf(priv_path, sizeof(priv_path), "%s/ed.key", dir);
    snprintf(pub_path, sizeof(pub_path), "%s/ed.pub", dir);
    write_file(priv_path, priv);
    write_file(pub_path, pub);
    chmod(pub_path, 0644);

    CHECK_EQ(parse(&cfg, "--jwt-public-key-file", pub_path, NULL), 0);
    CHECK_EQ(cfg.jwt_key_count, 1);
    CHECK_EQ(cfg.jwt_keys[0].alg, TOKEN_ALG_EDDSA);
    CHECK_EQ(cfg.jwt_keys[0].can_sign, 0);
    CHECK_EQ(parse(&cfg, "--jwt-public-key-file", pub_path, "--jwt-secret-file", key_path, NULL), 0);
    CHECK_EQ(cfg.jwt_key_count, 2);
    CHECK_EQ(cfg.jwt_keys[0].alg, TOKEN_ALG_HS256);
    CHECK_EQ(cfg.jwt_keys[1].alg, TOKEN_ALG_EDDSA);
    /* The private key mints tokens: a gateway is refused it either way. */
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", priv_path, NULL), -1);
    CHECK_ERR("gateway needs only the public key");
    CHECK_EQ(parse(&cfg, "--jwt-public-key-file", priv_path, NULL), -1);
    CHECK_ERR("not an Ed25519 public key");
    CHECK_EQ(parse(&cfg, "--jwt-public-key-file", key_path, NULL), -1);
    CHECK_ERR("not an Ed25519 public key");
}

/* The limits: their defaults, every one from the file, the proxy list
 * replaced by the command line's, and the values refused. */
static void test_limits(void)
{
    struct gateway_config cfg;
    char text[2048];

    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, NULL), 0);
    CHECK_EQ(cfg.output_max, 1048576);
    CHECK(cfg.control_rate == 10.0);
    CHECK_EQ(cfg.handshake_timeout_s, 10);
    CHECK_EQ(cfg.ws_ping_s, 30);
    CHECK_EQ(cfg.ws_idle_s, 60);
    CHECK_EQ(cfg.tcp_keepalive_s, 60);
    CHECK_EQ(cfg.trusted_proxy_count, 0);
    CHECK_EQ(cfg.ip_max_conns, 200);
    CHECK(cfg.ip_handshake_rate == 20.0);
    CHECK_EQ(cfg.ip_handshake_burst, 200);
    CHECK_EQ(cfg.user_max_sessions, 4);
    CHECK(cfg.session_start_rate == 1.0);
    CHECK_EQ(cfg.session_start_burst, 10);
    CHECK_EQ(cfg.start_queue, 1000);
    CHECK(cfg.rest_rate == 5.0);
    CHECK_EQ(cfg.rest_burst, 20);
    CHECK_EQ(cfg.pg_pool, 3);

    snprintf(text, sizeof(text),
             "jwt-secret-file = %s\n"
             "output-max = 2097152\n"
             "control-rate = 0\n"
             "handshake-timeout = 5\n"
             "ws-ping = 20\n"
             "ws-idle = 45\n"
             "tcp-keepalive = 0\n"
             "trusted-proxy = 10.0.0.0/8\n"
             "trusted-proxy = ::1\n"
             "ip-max-conns = 0\n"
             "ip-handshake-rate = 2.5\n"
             "ip-handshake-burst = 7\n"
             "user-max-sessions = 2\n"
             "session-start-rate = 0.2\n"
             "session-start-burst = 3\n"
             "start-queue = 50\n"
             "rest-rate = 9\n"
             "rest-burst = 11\n"
             "pg-pool = 4\n",
             key_path);
    write_file(conf_path, text);
    CHECK_EQ(parse(&cfg, "--config", conf_path, NULL), 0);
    CHECK_IN(err[0] == '\0', err);
    CHECK_EQ(cfg.output_max, 2097152);
    CHECK(cfg.control_rate == 0.0);
    CHECK_EQ(cfg.handshake_timeout_s, 5);
    CHECK_EQ(cfg.ws_ping_s, 20);
    CHECK_EQ(cfg.ws_idle_s, 45);
    CHECK_EQ(cfg.tcp_keepalive_s, 0);
    CHECK_EQ(cfg.trusted_proxy_count, 2);
    CHECK(strcmp(cfg.trusted_proxies[0], "10.0.0.0/8") == 0);
    CHECK(strcmp(cfg.trusted_proxies[1], "::1") == 0);
    CHECK_EQ(cfg.ip_max_conns, 0);
    CHECK(cfg.ip_handshake_rate == 2.5);
    CHECK_EQ(cfg.ip_handshake_burst, 7);
    CHECK_EQ(cfg.user_max_sessions, 2);
    CHECK(cfg.session_start_rate == 0.2);
    CHECK_EQ(cfg.session_start_burst, 3);
    CHECK_EQ(cfg.start_queue, 50);
    CHECK(cfg.rest_rate == 9.0);
    CHECK_EQ(cfg.rest_burst, 11);
    CHECK_EQ(cfg.pg_pool, 4);
    /* A --trusted-proxy list on the command line replaces the file's. */
    CHECK_EQ(parse(&cfg, "--config", conf_path, "--trusted-proxy", "127.0.0.2", NULL), 0);
    CHECK_EQ(cfg.trusted_proxy_count, 1);
    CHECK(strcmp(cfg.trusted_proxies[0], "127.0.0.2") == 0);

    static const struct {
        const char *flag, *value;
    } bad[] = {
        {"--output-max", "1000"},         /* below the largest nearby frame */
        {"--control-rate", "-1"},
        {"--handshake-timeout", "0"},
        {"--trusted-proxy", "10.0.0.0/33"},
        {"--trusted-proxy", "proxy.example"},
        {"--ip-handshake-rate", "fast"},
        {"--ip-handshake-burst", "0"},
        {"--user-max-sessions", "0"},
        {"--session-start-rate", "0"},
        {"--start-queue", "0"},
        {"--rest-rate", "0"},
        {"--pg-pool", "1"},
        {"--pg-pool", "5"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[128];

        CHECK_IN(parse(&cfg, "--jwt-secret-file", key_path, bad[i].flag, bad[i].value, NULL) == -1,
                 bad[i].flag);
        snprintf(want, sizeof(want), "bad value for %s: '%s'", bad[i].flag, bad[i].value);
        CHECK_ERR(want);
    }
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--ws-ping", "60", NULL), -1);
    CHECK_ERR("--ws-ping 60 must be below --ws-idle 60");
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--ws-ping", "60", "--ws-idle", "0",
                   NULL), 0);
}

/* The strangers' flags: defaults, values, and a radius the 9 cells cannot cover. */
static void test_strangers(void)
{
    struct gateway_config cfg;

    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, NULL), 0);
    CHECK_EQ(cfg.strangers_precision, 5);
    CHECK(cfg.strangers_radius_km == 2.0);
    CHECK_EQ(cfg.strangers_max, 20);
    CHECK(cfg.strangers_cell_rate == 50.0);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--strangers-precision", "6",
                   "--strangers-radius-km", "0.5", "--strangers-max", "3",
                   "--strangers-cell-rate", "0", NULL), 0);
    CHECK_EQ(cfg.strangers_precision, 6);
    CHECK(cfg.strangers_radius_km == 0.5 && cfg.strangers_max == 3 && cfg.strangers_cell_rate == 0);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--strangers-radius-km", "5", NULL), -1);
    CHECK_IN(strstr(err, "--strangers-radius-km") != NULL, err);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--strangers-precision", "9", NULL), -1);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--strangers-max", "0", NULL), -1);
    CHECK_EQ(parse(&cfg, "--jwt-secret-file", key_path, "--strangers-cell-rate", "-1", NULL), -1);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(key_path, sizeof(key_path), "%s/jwt-secret", dir);
    snprintf(conf_path, sizeof(conf_path), "%s/gateway.conf", dir);
    write_file(key_path, "0123456789abcdef0123456789abcdef\n");
    unsetenv("NEARBY_ZK");
    unsetenv("NEARBY_PG");

    test_flags_only();
    test_eddsa_keys();
    test_file();
    test_command_line_wins();
    test_file_errors();
    test_file_unreadable();
    test_help_and_version();
    test_parse_again();
    test_limits();
    test_strangers();

    unlink(key_path);
    unlink(conf_path);
    {
        char p[300];
        snprintf(p, sizeof(p), "%s/stdout", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/stderr", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/ed.key", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/ed.pub", dir);
        unlink(p);
    }
    rmdir(dir);
    if (failures)
        fprintf(stderr, "test-config: %d checks failed\n", failures);
    return failures ? 1 : 0;
}
