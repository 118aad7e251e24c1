/* test-pg-integration.c: pg_conn, friends_db and history against a real PostgreSQL, stopped and restarted mid-test.
 *
 * Run by test/integration/gateway-pg.sh, which starts the server, migrates
 * and seeds the graph: usage: test-pg-integration CONNINFO PGDIR PORT.
 * The checks themselves use blocking PQexec on a connection of their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "friends_db.h"
#include "history.h"
#include "pg_conn.h"

extern char **environ;

static struct event_base *base;
static PGconn *db; /* the test's own blocking connection */
static const char *conninfo;
static const char *pg_dir;
static const char *pg_port;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_wakeup(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until done(arg) or timeout_ms. Returns true if done. */
static bool run_until(bool (*done)(void *), void *arg, int timeout_ms)
{
    struct event *wake = event_new(base, -1, EV_PERSIST, on_wakeup, NULL);
    struct timeval tv = { 0, 5000 };
    event_add(wake, &tv);
    int64_t deadline = now_ms() + timeout_ms;
    bool ok;
    while (!(ok = done(arg)) && now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(wake);
    return ok;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

static bool never(void *arg)
{
    return false;
}

static void run_for(int ms)
{
    run_until(never, NULL, ms);
}

static bool conn_healthy(void *arg)
{
    return pg_conn_healthy(arg);
}

/* Runs a statement on the test's own connection; returns the first field of
 * the first row as an integer, or -1 (and a failure) on error. */
static long long sql_int(const char *sql)
{
    PGresult *res = PQexec(db, sql);
    long long v = -1;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else if (st == PGRES_COMMAND_OK)
        v = 0;
    else {
        fprintf(stderr, "FAIL sql %s: %s", sql, PQerrorMessage(db));
        check_failed();
    }
    PQclear(res);
    return v;
}

/* ------------------------------------------------------------ friends */

struct load_result {
    bool done;
    int err;
    size_t n;
    uint64_t ids[FRIENDS_DB_MAX_FRIENDS];
};

static void on_load(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct load_result *r = arg;
    r->done = true;
    r->err = err;
    r->n = n;
    if (n)
        memcpy(r->ids, ids, n * sizeof *ids);
}

struct done_result {
    bool done;
    int err;
    bool changed;
    bool were_friends;
    uint64_t version;
    enum friends_db_status status;
};

static void on_done(int err, bool changed, void *arg)
{
    struct done_result *r = arg;
    r->done = true;
    r->err = err;
    r->changed = changed;
}

static void on_status(int err, enum friends_db_status status, void *arg)
{
    struct done_result *r = arg;
    r->done = true;
    r->err = err;
    r->status = status;
}

static void on_sharing(int err, bool changed, uint64_t version, void *arg)
{
    struct done_result *r = arg;
    r->done = true;
    r->err = err;
    r->changed = changed;
    r->version = version;
}

static void on_block(int err, bool changed, bool were_friends, void *arg)
{
    struct done_result *r = arg;
    r->done = true;
    r->err = err;
    r->changed = changed;
    r->were_friends = were_friends;
}

/* Loads user's friends through friends_db, waiting for the answer. */
static struct load_result *load_sync(struct pg_conn *pc, uint64_t user)
{
    struct load_result *r = calloc(1, sizeof *r);
    int rc = friends_db_load(pc, user, on_load, r);
    if (rc != 0) {
        r->done = true;
        r->err = rc;
        return r;
    }
    CHECK(run_until(flag_set, &r->done, 10000));
    return r;
}

enum change_op { OP_REQUEST, OP_ACCEPT, OP_REQUEST_DEL, OP_UNFRIEND, OP_BLOCK, OP_UNBLOCK,
                 OP_SHARING_ON, OP_SHARING_OFF };

/* Runs one change, waiting for it; returns its error and fills *r. */
static int change_sync(struct pg_conn *pc, enum change_op op, uint64_t a, uint64_t b,
                       struct done_result *r)
{
    struct done_result local;
    int rc;

    if (r == NULL)
        r = &local;
    memset(r, 0, sizeof *r);
    switch (op) {
    case OP_REQUEST: rc = friends_db_request(pc, a, b, on_status, r); break;
    case OP_ACCEPT: rc = friends_db_accept(pc, a, b, on_status, r); break;
    case OP_REQUEST_DEL: rc = friends_db_request_delete(pc, a, b, on_done, r); break;
    case OP_UNFRIEND: rc = friends_db_unfriend(pc, a, b, on_done, r); break;
    case OP_BLOCK: rc = friends_db_block(pc, a, b, on_block, r); break;
    case OP_UNBLOCK: rc = friends_db_unblock(pc, a, b, on_done, r); break;
    case OP_SHARING_ON: rc = friends_db_set_sharing(pc, a, true, on_sharing, r); break;
    default: rc = friends_db_set_sharing(pc, a, false, on_sharing, r); break;
    }
    if (rc != 0)
        return rc;
    CHECK(run_until(flag_set, &r->done, 10000));
    return r->err;
}

/* The friend ids of user according to the database itself. */
static size_t db_friends(uint64_t user, uint64_t *out, size_t cap)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT friend_id FROM friendships WHERE user_id = %" PRIu64 " ORDER BY friend_id",
             user);
    PGresult *res = PQexec(db, sql);
    size_t n = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(res) && n < cap; i++)
            out[n++] = strtoull(PQgetvalue(res, i, 0), NULL, 10);
    } else {
        fprintf(stderr, "FAIL %s: %s", sql, PQerrorMessage(db));
        check_failed();
    }
    PQclear(res);
    return n;
}

static long long pair_rows(uint64_t a, uint64_t b)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM friendships WHERE (user_id, friend_id) IN"
             " ((%" PRIu64 ", %" PRIu64 "), (%" PRIu64 ", %" PRIu64 "))", a, b, b, a);
    return sql_int(sql);
}

struct consent_result {
    bool done;
    int err;
    size_t n;
    struct friends_db_consent rows[FRIENDS_DB_CONSENT_MAX];
};

static void on_consent(int err, const struct friends_db_consent *rows, size_t n, void *arg)
{
    struct consent_result *r = arg;
    r->done = true;
    r->err = err;
    r->n = n;
    if (n)
        memcpy(r->rows, rows, n * sizeof *rows);
}

struct requests_result {
    bool done;
    int err;
    size_t n;
    struct friends_db_request rows[128];
};

static void on_requests(int err, const struct friends_db_request *rows, size_t n, void *arg)
{
    struct requests_result *r = arg;
    r->done = true;
    r->err = err;
    r->n = n < 128 ? n : 128;
    if (n)
        memcpy(r->rows, rows, r->n * sizeof *rows);
}

static void test_friends(struct pg_conn *pc)
{
    int64_t t0 = now_ms();
    long long users = sql_int("SELECT count(*) FROM users");
    CHECK(users >= 100);

    /* Every user's list, all queued at once, against the database. */
    enum { N = 200 };
    static struct load_result loads[N + 1];
    static uint64_t want[FRIENDS_DB_MAX_FRIENDS];
    for (uint64_t u = 1; u <= N; u++)
        CHECK_EQ(friends_db_load(pc, u, on_load, &loads[u]), 0);
    for (uint64_t u = 1; u <= N; u++)
        CHECK(run_until(flag_set, &loads[u].done, 10000));
    size_t total = 0;
    for (uint64_t u = 1; u <= N; u++) {
        size_t n = db_friends(u, want, FRIENDS_DB_MAX_FRIENDS);
        CHECK_EQ(loads[u].err, 0);
        CHECK_EQ(loads[u].n, n);
        CHECK(loads[u].n == n && memcmp(loads[u].ids, want, n * sizeof *want) == 0);
        total += n;
    }
    CHECK(total > 0);
    printf("# friends: %d lists (%zu ids) match the database\n", N, total);

    /* Argument checks fail at once. */
    CHECK_EQ(friends_db_load(pc, 0, on_load, &loads[0]), FRIENDS_DB_ERR_INVALID);
    CHECK_EQ(friends_db_load(pc, (uint64_t)INT64_MAX + 1, on_load, &loads[0]),
             FRIENDS_DB_ERR_INVALID);
    CHECK_EQ(change_sync(pc, OP_UNFRIEND, 5, 5, NULL), FRIENDS_DB_ERR_INVALID);
    CHECK_EQ(change_sync(pc, OP_BLOCK, 5, 0, NULL), FRIENDS_DB_ERR_INVALID);

    /* A user exists from first sight: loading a new id makes its row. */
    struct load_result *fresh = load_sync(pc, 7000000000000ULL);
    CHECK(fresh->err == 0 && fresh->n == 0);
    free(fresh);
    CHECK_EQ(sql_int("SELECT count(*) FROM users WHERE id = 7000000000000 AND NOT sharing"), 1);

    /* A pair that are not friends: a request alone changes nothing; the
     * other's acceptance makes the friendship, both rows. */
    PGresult *res = PQexec(db, "SELECT a.id, b.id FROM users a, users b WHERE a.id < b.id"
                               " AND a.id <= 200 AND b.id <= 200 AND NOT EXISTS (SELECT 1"
                               " FROM friendships f WHERE f.user_id = a.id AND f.friend_id = b.id)"
                               " ORDER BY 1, 2 LIMIT 1");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
    uint64_t a = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    uint64_t b = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    struct done_result r;
    CHECK_EQ(change_sync(pc, OP_ACCEPT, b, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_NO_REQUEST);
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, b, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_REQUESTED);
    CHECK_EQ(pair_rows(a, b), 0);
    struct requests_result *rq = calloc(1, sizeof *rq);
    CHECK_EQ(friends_db_requests(pc, b, on_requests, rq), 0);
    CHECK(run_until(flag_set, &rq->done, 10000));
    CHECK(rq->err == 0 && rq->n == 1 && rq->rows[0].incoming && rq->rows[0].other == a &&
          rq->rows[0].at_ms > 1700000000000LL);
    free(rq);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, b, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_FRIENDS);
    CHECK_EQ(pair_rows(a, b), 2);
    struct load_result *la = load_sync(pc, a), *lb = load_sync(pc, b);
    bool a_has_b = false, b_has_a = false;
    for (size_t i = 0; i < la->n; i++)
        a_has_b |= la->ids[i] == b;
    for (size_t i = 0; i < lb->n; i++)
        b_has_a |= lb->ids[i] == a;
    CHECK(a_has_b && b_has_a);
    free(la);
    free(lb);
    CHECK_EQ(change_sync(pc, OP_UNFRIEND, b, a, &r), 0);
    CHECK(r.changed);
    CHECK_EQ(pair_rows(a, b), 0);
    CHECK_EQ(change_sync(pc, OP_UNFRIEND, a, b, &r), 0);
    CHECK(!r.changed);
    /* Decline. */
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, b, &r), 0);
    CHECK_EQ(change_sync(pc, OP_REQUEST_DEL, b, a, &r), 0);
    CHECK(r.changed);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, b, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_NO_REQUEST);
    /* A request to an id that is no user answers like any other. */
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, 9000000000000ULL, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_REQUESTED);
    /* Blocks: the friendship ends, requests are swallowed. */
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, b, &r), 0);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, b, a, &r), 0);
    CHECK_EQ(change_sync(pc, OP_BLOCK, b, a, &r), 0);
    CHECK(r.changed && r.were_friends);
    CHECK_EQ(pair_rows(a, b), 0);
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, b, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_REQUESTED);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, b, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_NO_REQUEST);
    CHECK_EQ(change_sync(pc, OP_REQUEST, b, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_BLOCKED);
    CHECK_EQ(change_sync(pc, OP_UNBLOCK, b, a, &r), 0);
    CHECK(r.changed);

    /* The cap: user 1000000 gets exactly 5000 friends. */
    sql_int("INSERT INTO users (id) SELECT g FROM generate_series(1000000, 1005000) g");
    sql_int("INSERT INTO friendships (user_id, friend_id)"
            " SELECT 1000000, g FROM generate_series(1000001, 1005000) g"
            " UNION ALL SELECT g, 1000000 FROM generate_series(1000001, 1005000) g");
    CHECK_EQ(change_sync(pc, OP_REQUEST, a, 1000000, &r), 0);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, 1000000, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_FRIEND_LIMIT);
    CHECK_EQ(pair_rows(a, 1000000), 0);
    struct load_result *big = load_sync(pc, 1000000);
    CHECK_EQ(big->err, 0);
    CHECK_EQ(big->n, FRIENDS_DB_MAX_FRIENDS);
    CHECK(big->ids[0] == 1000001 && big->ids[big->n - 1] == 1005000);
    free(big);
    /* One below the cap, the pending request fits, the next is refused again. */
    CHECK_EQ(change_sync(pc, OP_UNFRIEND, 1000000, 1005000, &r), 0);
    CHECK(r.changed);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, 1000000, a, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_FRIENDS);
    CHECK_EQ(sql_int("SELECT count(*) FROM friendships WHERE user_id = 1000000"), 5000);
    CHECK_EQ(change_sync(pc, OP_REQUEST, b, 1000000, &r), 0);
    CHECK_EQ(change_sync(pc, OP_ACCEPT, 1000000, b, &r), 0);
    CHECK_EQ(r.status, FRIENDS_DB_FRIEND_LIMIT);
    CHECK_EQ(pair_rows(b, 1000000), 0);

    /* Sharing, and the consent version each change makes. */
    char sql[120];
    snprintf(sql, sizeof sql, "SELECT sharing::int FROM users WHERE id = %" PRIu64, a);
    CHECK_EQ(change_sync(pc, OP_SHARING_OFF, a, 0, &r), 0);
    CHECK(r.changed);
    uint64_t v_off = r.version;
    CHECK_EQ(sql_int(sql), 0);
    CHECK_EQ(change_sync(pc, OP_SHARING_OFF, a, 0, &r), 0);
    CHECK(!r.changed && r.version == v_off);
    CHECK_EQ(change_sync(pc, OP_SHARING_ON, a, 0, &r), 0);
    CHECK(r.changed && r.version == v_off + 1);
    CHECK_EQ(sql_int(sql), 1);
    struct consent_result *cr = calloc(1, sizeof *cr);
    uint64_t ask[] = {b, a, 8999999999999ULL};
    CHECK_EQ(friends_db_consent(pc, ask, 3, on_consent, cr), 0);
    CHECK(run_until(flag_set, &cr->done, 10000));
    CHECK(cr->err == 0 && cr->n == 3);
    for (size_t i = 0; i < cr->n; i++) {
        if (cr->rows[i].user == a)
            CHECK(cr->rows[i].sharing && cr->rows[i].version == v_off + 1);
        else if (cr->rows[i].user == 8999999999999ULL)
            CHECK(!cr->rows[i].sharing && cr->rows[i].version == 0);
        else
            CHECK(cr->rows[i].user == b && cr->rows[i].version >= 1);
    }
    CHECK_EQ(friends_db_consent(pc, ask, 0, on_consent, cr), FRIENDS_DB_ERR_INVALID);
    free(cr);
    printf("# friends: done in %lld ms\n", (long long)(now_ms() - t0));
}

/* ------------------------------------------------------------ pg_conn */

struct query_result {
    bool done;
    int err;
    char value[64];
    char errstr[256];
};

static void on_query(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct query_result *r = arg;
    r->done = true;
    r->err = err;
    if (err == 0 && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        snprintf(r->value, sizeof r->value, "%s", PQgetvalue(res, 0, 0));
    snprintf(r->errstr, sizeof r->errstr, "%s", pg_conn_errstr(pc));
}

static void on_query_then_free(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    on_query(pc, err, res, arg);
    pg_conn_free(pc);
    pg_conn_free(pc); /* a second free while marked is a no-op */
}

static void test_conn(void)
{
    struct pg_conn_options opt = { .conninfo = conninfo, .request_timeout_ms = 300 };
    struct pg_conn *pc = pg_conn_new(base, &opt);
    CHECK(pc);
    CHECK(run_until(conn_healthy, pc, 10000));

    /* A server error fails the request, not the connection. */
    struct query_result r1 = { 0 }, r2 = { 0 };
    CHECK_EQ(pg_conn_query(pc, "SELECT 1 / 0", 0, NULL, 0, on_query, &r1), 0);
    const char *params[] = { "41" };
    CHECK_EQ(pg_conn_query(pc, "SELECT $1::int + 1", 1, params, 0, on_query, &r2), 0);
    CHECK(!r1.done); /* never from inside the submitting call */
    CHECK(run_until(flag_set, &r2.done, 10000));
    CHECK_EQ(r1.err, PG_CONN_ERR_QUERY);
    CHECK(strstr(r1.errstr, "division by zero"));
    CHECK_EQ(r2.err, 0);
    CHECK(strcmp(r2.value, "42") == 0);
    printf("# conn: query error reads \"%s\"\n", r1.errstr);

    /* A request past its timeout fails and the connection comes back. */
    struct query_result r3 = { 0 }, r4 = { 0 };
    CHECK_EQ(pg_conn_query(pc, "SELECT pg_sleep(3)", 0, NULL, 0, on_query, &r3), 0);
    CHECK(run_until(flag_set, &r3.done, 5000));
    CHECK_EQ(r3.err, PG_CONN_ERR_TIMEOUT);
    CHECK(run_until(conn_healthy, pc, 10000));
    CHECK_EQ(pg_conn_query(pc, "SELECT 7", 0, NULL, 0, on_query, &r4), 0);
    CHECK(run_until(flag_set, &r4.done, 5000));
    CHECK(r4.err == 0 && strcmp(r4.value, "7") == 0);

    /* Freed from inside its own callback: the queued request is closed. */
    struct query_result r5 = { 0 }, r6 = { 0 };
    CHECK_EQ(pg_conn_query(pc, "SELECT 5", 0, NULL, 0, on_query_then_free, &r5), 0);
    CHECK_EQ(pg_conn_query(pc, "SELECT 6", 0, NULL, 0, on_query, &r6), 0);
    CHECK(run_until(flag_set, &r6.done, 5000));
    CHECK(r5.done && r5.err == 0);
    CHECK_EQ(r6.err, PG_CONN_ERR_CLOSED);

    /* Nothing listens: fails fast, retries with backoff, never blocks. */
    struct pg_conn_options bad = { .conninfo = "host=127.0.0.1 port=1 user=postgres"
                                               " dbname=nearby connect_timeout=2",
                                   .backoff_min_ms = 50, .backoff_max_ms = 200 };
    struct pg_conn *pb = pg_conn_new(base, &bad);
    int64_t t0 = now_ms();
    run_for(600);
    struct pg_conn_stats st;
    pg_conn_get_stats(pb, &st);
    CHECK(!pg_conn_healthy(pb));
    CHECK(st.connect_failures >= 3);
    CHECK(strstr(pg_conn_errstr(pb), "connect"));
    CHECK(now_ms() - t0 < 1500);
    printf("# conn: unreachable server: %" PRIu64 " attempts in 600 ms, errstr \"%s\"\n",
           st.connect_failures, pg_conn_errstr(pb));
    pg_conn_free(pb);
    pg_conn_free(NULL);
}

/* ------------------------------------------------------------ history */

static double row_lat(uint64_t i)
{
    return -89.0 + (double)(i % 178000) * 0.001 + 1.0 / 3.0 * 1e-4;
}

static double row_lng(uint64_t i)
{
    return 179.0 - (double)(i % 358000) * 0.001 - 1.0 / 7.0 * 1e-4;
}

static void test_history_bulk(struct pg_conn *pc)
{
    sql_int("TRUNCATE location_history");
    struct history_options opt = { .capacity = 100000, .flush_rows = 5000,
                                   .flush_interval_ms = 1000 };
    struct history *h = history_new(base, pc, &opt);
    CHECK(h);
    CHECK_EQ(history_push(h, 1, NAN, 0, 1), HISTORY_ERR_INVALID);
    CHECK_EQ(history_push(h, 1, 0, 181, 1), HISTORY_ERR_INVALID);
    CHECK_EQ(history_push(h, 0, 0, 0, 1), HISTORY_ERR_INVALID);
    CHECK_EQ(history_push(h, 1, 0, 0, -1), HISTORY_ERR_INVALID);

    enum { ROWS = 20000 };
    int64_t t0 = now_ms();
    for (uint64_t i = 0; i < ROWS; i++)
        CHECK_EQ(history_push(h, 1 + i % 200, row_lat(i), row_lng(i), 1700000000000LL + (int64_t)i), 0);
    int64_t t1 = now_ms();
    CHECK_EQ(history_flush_and_wait(h, 30000), 0);
    int64_t t2 = now_ms();
    struct history_stats st;
    history_get_stats(h, &st);
    CHECK_EQ(st.pushed, ROWS);
    CHECK_EQ(st.written, ROWS);
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.rejected, 4);
    CHECK(st.batches >= 1 && st.batches <= ROWS / 1000);
    CHECK_EQ(sql_int("SELECT count(*) FROM location_history"), ROWS);
    CHECK_EQ(sql_int("SELECT count(DISTINCT ts) FROM location_history"), ROWS);
    /* Values arrive exactly, not rounded. */
    PGresult *res = PQexec(db, "SELECT ts, user_id, lat, lng FROM location_history"
                               " WHERE ts % 997 = 0 ORDER BY ts");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 10);
    for (int r = 0; r < PQntuples(res); r++) {
        uint64_t i = strtoull(PQgetvalue(res, r, 0), NULL, 10) - 1700000000000ULL;
        CHECK_EQ(strtoull(PQgetvalue(res, r, 1), NULL, 10), 1 + i % 200);
        CHECK(strtod(PQgetvalue(res, r, 2), NULL) == row_lat(i));
        CHECK(strtod(PQgetvalue(res, r, 3), NULL) == row_lng(i));
    }
    PQclear(res);
    printf("# history: %d rows pushed in %lld ms, written in %" PRIu64 " COPY batches in %lld ms"
           " (%.0f rows/s)\n", ROWS, (long long)(t1 - t0), st.batches, (long long)(t2 - t1),
           (double)ROWS * 1000.0 / (double)(t2 - t1 > 0 ? t2 - t1 : 1));

    /* A full queue: 100 000 rows in 20 batches, for the throughput figure. */
    sql_int("TRUNCATE location_history");
    t0 = now_ms();
    for (uint64_t i = 0; i < 100000; i++)
        history_push(h, 1 + i % 200, row_lat(i), row_lng(i), 1700000000000LL + (int64_t)i);
    t1 = now_ms();
    CHECK_EQ(history_flush_and_wait(h, 60000), 0);
    t2 = now_ms();
    struct history_stats st2;
    history_get_stats(h, &st2);
    CHECK_EQ(st2.written - st.written, 100000);
    CHECK_EQ(st2.dropped, 0);
    CHECK_EQ(sql_int("SELECT count(*) FROM location_history"), 100000);
    printf("# history: 100000 rows: push %lld ms (%.1f ns/row), COPY %lld ms in %" PRIu64
           " batches (%.0f rows/s)\n", (long long)(t1 - t0),
           (double)(t1 - t0) * 1e6 / 100000.0, (long long)(t2 - t1), st2.batches - st.batches,
           100000.0 * 1000.0 / (double)(t2 - t1 > 0 ? t2 - t1 : 1));
    history_free(h);
}

static void test_history_drops(struct pg_conn *pc)
{
    sql_int("TRUNCATE location_history");
    struct history_options opt = { .capacity = 1000, .flush_rows = 500,
                                   .flush_interval_ms = 1000 };
    struct history *h = history_new(base, pc, &opt);
    int full = 0;
    for (uint64_t i = 0; i < 1500; i++) {
        int rc = history_push(h, 7, row_lat(i), row_lng(i), (int64_t)i);
        CHECK(rc == 0 || rc == HISTORY_ERR_FULL);
        full += rc == HISTORY_ERR_FULL;
    }
    struct history_stats st;
    history_get_stats(h, &st);
    CHECK_EQ(full, 500);
    CHECK_EQ(st.dropped, 500);
    CHECK_EQ(st.pushed, 1000);
    CHECK_EQ(st.queued, 1000);
    CHECK_EQ(history_flush_and_wait(h, 30000), 0);
    history_get_stats(h, &st);
    CHECK_EQ(st.written, 1000);
    CHECK_EQ(st.batches, 2);
    /* The newest were dropped: ts 0..999 are in the table. */
    CHECK_EQ(sql_int("SELECT count(*) FROM location_history WHERE ts < 1000"), 1000);
    CHECK_EQ(sql_int("SELECT count(*) FROM location_history"), 1000);
    printf("# history: tiny bound 1000, 1500 pushed: dropped %" PRIu64 ", written %" PRIu64 "\n",
           st.dropped, st.written);
    history_free(h);
}

/* The outage: a ticker pushes rows every 10 ms and measures its own gaps
 * while the server is stopped for about 5 s and started again. */
struct outage {
    struct history *h;
    struct pg_conn *pc;
    int64_t last_tick;
    int64_t max_gap;
    int64_t ticks;
    uint64_t next_ts;
    bool pushing;
    bool saw_down;
    pid_t child;
    int child_status;
    int down_loads;    /* friend loads tried while down */
    int down_failures; /* ... that failed (all should) */
    struct load_result down_load;
    bool load_pending;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct outage *o = arg;
    int64_t t = now_ms();
    if (o->last_tick && t - o->last_tick > o->max_gap)
        o->max_gap = t - o->last_tick;
    o->last_tick = t;
    o->ticks++;
    if (o->pushing) {
        for (int k = 0; k < 20; k++, o->next_ts++) {
            int rc = history_push(o->h, 1 + o->next_ts % 200, row_lat(o->next_ts),
                                  row_lng(o->next_ts), (int64_t)o->next_ts);
            if (rc != 0) {
                fprintf(stderr, "FAIL history_push during outage: %d\n", rc);
                check_failed();
            }
        }
    }
    if (!pg_conn_healthy(o->pc))
        o->saw_down = true;
    if (o->child > 0) {
        pid_t r = waitpid(o->child, &o->child_status, WNOHANG);
        if (r == o->child)
            o->child = 0;
    }
    if (o->load_pending && o->down_load.done) {
        o->load_pending = false;
        o->down_failures += o->down_load.err != 0;
    }
}

static bool child_gone(void *arg)
{
    return ((struct outage *)arg)->child == 0;
}

static bool history_empty(void *arg)
{
    struct history_stats st;
    history_get_stats(arg, &st);
    return st.queued == 0;
}

/* Starts scripts/postgres CMD without waiting (the loop must keep running). */
static pid_t spawn_postgres(const char *cmd)
{
    const char *root = getenv("NEARBY_SOURCE_ROOT");
    char script[4096];
    snprintf(script, sizeof script, "%s/scripts/postgres", root ? root : ".");
    char *argv[] = { script, (char *)cmd, "--dir", (char *)pg_dir, "--port", (char *)pg_port, NULL };
    if (strcmp(cmd, "stop") == 0)
        argv[4] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 2, 1); /* its chatter to our stderr */
    pid_t pid = -1;
    int rc = posix_spawn(&pid, script, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "FAIL posix_spawn %s: %s\n", script, strerror(rc));
        check_failed();
        return -1;
    }
    return pid;
}

static void test_history_outage(struct pg_conn *pc)
{
    sql_int("TRUNCATE location_history");
    struct history_options opt = { .capacity = 100000, .flush_rows = 5000,
                                   .flush_interval_ms = 1000 };
    struct outage o = { .pc = pc, .pushing = true, .next_ts = 1 };
    o.h = history_new(base, pc, &opt);
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, &o);
    struct timeval tv = { 0, 10000 };
    event_add(tick, &tv);
    struct pg_conn_stats cs0;
    pg_conn_get_stats(pc, &cs0);

    int64_t t0 = now_ms();
    run_for(1500);
    o.child = spawn_postgres("stop");
    CHECK(run_until(child_gone, &o, 60000));
    CHECK(WIFEXITED(o.child_status) && WEXITSTATUS(o.child_status) == 0);
    int64_t t_down = now_ms();
    printf("# outage: postgres stopped %lld ms into the run\n", (long long)(t_down - t0));
    /* About 5 s down; friend loads fail fast meanwhile. */
    while (now_ms() - t_down < 5000) {
        if (!o.load_pending) {
            memset(&o.down_load, 0, sizeof o.down_load);
            o.down_loads++;
            int rc = friends_db_load(pc, 1, on_load, &o.down_load);
            if (rc != 0)
                o.down_failures++;
            else
                o.load_pending = true;
        }
        run_for(250);
    }
    struct history_stats mid;
    history_get_stats(o.h, &mid);
    CHECK(mid.queued > 0);
    o.child = spawn_postgres("start");
    CHECK(run_until(child_gone, &o, 60000));
    CHECK(WIFEXITED(o.child_status) && WEXITSTATUS(o.child_status) == 0);
    int64_t t_up = now_ms();
    printf("# outage: postgres back after %lld ms down; %" PRIu64 " rows were queued at restart\n",
           (long long)(t_up - t_down), mid.queued);
    run_for(1000);
    o.pushing = false;
    CHECK(run_until(history_empty, o.h, 30000));
    int64_t t_drained = now_ms();
    run_for(50);
    event_free(tick);
    if (o.load_pending)
        CHECK(run_until(flag_set, &o.down_load.done, 10000));

    struct history_stats st;
    history_get_stats(o.h, &st);
    struct pg_conn_stats cs;
    pg_conn_get_stats(pc, &cs);
    uint64_t pushed = o.next_ts - 1;
    CHECK(o.saw_down);
    CHECK(cs.disconnects > cs0.disconnects);
    CHECK_EQ(st.pushed, pushed);
    CHECK_EQ(st.dropped, 0);
    CHECK_EQ(st.written, pushed);
    CHECK(o.max_gap < 200);
    CHECK(o.down_loads > 0 && o.down_failures == o.down_loads - (o.load_pending ? 1 : 0));

    /* The test's own connection died with the server. */
    PQreset(db);
    CHECK(PQstatus(db) == CONNECTION_OK);
    CHECK_EQ(sql_int("SELECT count(*) FROM location_history"), (long long)pushed);
    CHECK_EQ(sql_int("SELECT count(DISTINCT ts) FROM location_history"), (long long)pushed);
    struct load_result *after = load_sync(pc, 1);
    CHECK_EQ(after->err, 0);
    free(after);
    printf("# outage: %" PRIu64 " rows pushed, %" PRIu64 " written in %" PRIu64 " batches, "
           "%" PRIu64 " flush errors, drained %lld ms after restart; loop max gap %lld ms over "
           "%lld ticks; %d friend loads while down all failed; reconnects %" PRIu64 "\n",
           pushed, st.written, st.batches, st.flush_errors, (long long)(t_drained - t_up),
           (long long)o.max_gap, (long long)o.ticks, o.down_loads,
           cs.connects - cs0.connects);
    history_free(o.h);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONNINFO PGDIR PORT\n", argv[0]);
        return 2;
    }
    conninfo = argv[1];
    pg_dir = argv[2];
    pg_port = argv[3];
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    base = event_base_new();
    db = PQconnectdb(conninfo);
    if (!base || PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect: %s", PQerrorMessage(db));
        return 1;
    }
    int64_t t0 = now_ms();
    test_conn();

    struct pg_conn_options opt = { .conninfo = conninfo, .backoff_min_ms = 100,
                                   .backoff_max_ms = 1000, .connect_timeout_ms = 2000 };
    struct pg_conn *pc = pg_conn_new(base, &opt);
    CHECK(run_until(conn_healthy, pc, 10000));
    test_friends(pc);
    test_history_bulk(pc);
    test_history_drops(pc);
    test_history_outage(pc);
    pg_conn_free(pc);

    PQfinish(db);
    event_base_free(base);
    printf("# total %lld ms, %d failure(s)\n", (long long)(now_ms() - t0), failures);
    return failures ? 1 : 0;
}
