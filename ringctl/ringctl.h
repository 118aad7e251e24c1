/* ringctl.h: what the ringctl commands share: parsed global flags, exits, output helpers. */
#ifndef NEARBY_RINGCTL_H
#define NEARBY_RINGCTL_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <zookeeper/zookeeper.h>

#include "ring.h"

/* Exit statuses, the same for every command. */
enum ringctl_exit {
    RINGCTL_EXIT_OK = 0,
    RINGCTL_EXIT_FAILED = 1, /* refused or failed; the message says why and what to do */
    RINGCTL_EXIT_USAGE = 2,  /* bad command line */
};

#define RINGCTL_ZK_DEFAULT "127.0.0.1:2181"
#define RINGCTL_RING_DEFAULT "main"
#define RINGCTL_CONNECT_MS_DEFAULT 5000

/* A number macro as a string literal, for --help texts that show a default. */
#define RINGCTL_STR_(x) #x
#define RINGCTL_STR(x) RINGCTL_STR_(x)

/* Global flags; every command accepts them, before or after its name. */
struct ringctl {
    const char *zk;        /* --zk, else $NEARBY_ZK, else RINGCTL_ZK_DEFAULT */
    const char *root;      /* --root */
    const char *ring;      /* --ring */
    int connect_ms;        /* --connect-timeout-ms */
    int json;              /* --json */
    const char *command;   /* name of the command being run */
    const char *redis_user; /* --redis-user, else $NEARBY_REDIS_USER; NULL: no AUTH */
    const char *redis_password_file; /* --redis-password-file, else $NEARBY_REDIS_PASSWORD_FILE */
    const char *zk_auth_file;    /* --zk-auth-file, else $NEARBY_ZK_AUTH_FILE; NULL: open ACLs */
};

/* One command: its name, a one-line summary for the overview, its usage text
 * (printed by --help and on bad usage), its own long options (terminated by a
 * zeroed entry; the global ones are added) and the function that runs it.
 * run gets the option letters it did not recognise through on_option and the
 * remaining positional arguments. */
struct ringctl_command {
    const char *name;
    const char *summary;
    const char *usage;
    const struct option *options;
    int (*on_option)(int opt, const char *arg, void *state);
    int (*run)(struct ringctl *ctl, int argc, char **argv, void *state);
    size_t state_size;
};

extern const struct ringctl_command ringctl_cmd_init, ringctl_cmd_show, ringctl_cmd_add,
    ringctl_cmd_add_standby, ringctl_cmd_drain, ringctl_cmd_remove, ringctl_cmd_replace,
    ringctl_cmd_plan, ringctl_cmd_locate, ringctl_cmd_status, ringctl_cmd_simulate,
    ringctl_cmd_watch, ringctl_cmd_autopilot;

/* Prints "ringctl CMD: <message>" on stderr. Returns RINGCTL_EXIT_FAILED. */
int ringctl_fail(const struct ringctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints the message and the command's usage hint on stderr. Returns
 * RINGCTL_EXIT_USAGE. */
int ringctl_usage_error(const struct ringctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Connects to ZooKeeper; on failure prints why and returns NULL. */
zhandle_t *ringctl_connect(const struct ringctl *ctl);

/* Reads the ring, built; on failure prints why and returns NULL. version may be NULL. */
struct ring *ringctl_read_ring(const struct ringctl *ctl, zhandle_t *zh, int32_t *version);

/* The same, unbuilt: for commands that look at the nodes only. */
struct ring *ringctl_read_nodes(const struct ringctl *ctl, zhandle_t *zh, int32_t *version);

/* Parses "ID=HOST:PORT" into id and addr (RING_ID_MAX+1 and RING_ADDR_MAX+1
 * bytes). Returns 0, or -1 after printing a usage error. */
int ringctl_parse_node_arg(const struct ringctl *ctl, const char *arg, char *id, char *addr);

/* Parses a decimal integer in [min, max]. Returns 0 and *out, or -1. */
int ringctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Writes s as a JSON string, quotes included. */
void ringctl_json_string(FILE *out, const char *s);

/* Prints the ring (show's output, also used after a change); builds it first. */
void ringctl_print_ring(const struct ringctl *ctl, struct ring *ring, int32_t version);

#endif
