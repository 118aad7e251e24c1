/* main.c: ringctl, the operator CLI for the ring: parse global flags, dispatch to a command. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nearby-version.h"
#include "ring_store.h"
#include "zk_auth.h"
#include "ringctl.h"

#define GLOBAL_OPTIONS 10
#define OPTIONS_MAX 32

enum global_opt {
    OPT_ZK = 0x100,
    OPT_ROOT,
    OPT_RING,
    OPT_JSON,
    OPT_CONNECT_MS,
    OPT_REDIS_USER,
    OPT_REDIS_PASSWORD_FILE,
    OPT_ZK_AUTH_FILE,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option global_options[GLOBAL_OPTIONS] = {
    {"zk", required_argument, NULL, OPT_ZK},
    {"root", required_argument, NULL, OPT_ROOT},
    {"ring", required_argument, NULL, OPT_RING},
    {"json", no_argument, NULL, OPT_JSON},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_MS},
    {"redis-user", required_argument, NULL, OPT_REDIS_USER},
    {"redis-password-file", required_argument, NULL, OPT_REDIS_PASSWORD_FILE},
    {"zk-auth-file", required_argument, NULL, OPT_ZK_AUTH_FILE},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
};

static const struct ringctl_command *const commands[] = {
    &ringctl_cmd_init,   &ringctl_cmd_show,   &ringctl_cmd_add,    &ringctl_cmd_add_standby,
    &ringctl_cmd_drain,  &ringctl_cmd_remove, &ringctl_cmd_replace, &ringctl_cmd_plan,
    &ringctl_cmd_locate, &ringctl_cmd_status, &ringctl_cmd_simulate, &ringctl_cmd_watch,
    &ringctl_cmd_autopilot,
};

static const char global_usage[] =
    "Global flags (accepted before or after the command):\n"
    "  --zk HOSTS                ZooKeeper servers, host:port[,host:port...]\n"
    "                            (default $NEARBY_ZK, else " RINGCTL_ZK_DEFAULT ")\n"
    "  --root PATH               znode under which nearby lives (default " RING_STORE_ROOT_DEFAULT ")\n"
    "  --ring NAME               ring name (default " RINGCTL_RING_DEFAULT ")\n"
    "  --connect-timeout-ms MS   give up connecting to ZooKeeper after MS (default 5000)\n"
    "  --redis-user USER         Redis ACL user for asking pub/sub nodes who subscribes\n"
    "                            (remove, autopilot; default $NEARBY_REDIS_USER, else none)\n"
    "  --redis-password-file F   that user's password, a file only its owner may read\n"
    "                            (default $NEARBY_REDIS_PASSWORD_FILE)\n"
    "  --zk-auth-file F          ZooKeeper digest identity and role ids, a file only\n"
    "                            its owner may read (default $NEARBY_ZK_AUTH_FILE,\n"
    "                            else none: open ACLs; see ringctl(8))\n"
    "  --json                    print JSON instead of text\n"
    "  --help                    show help (for a command: ringctl CMD --help)\n"
    "  --version                 print the version and exit\n";

static void print_overview(FILE *out)
{
    fprintf(out, "usage: ringctl [GLOBAL FLAGS] COMMAND [ARGS]\n\n"
                 "Manage the consistent hash ring that shards nearby's pub/sub channels\n"
                 "over Redis nodes. The ring lives in ZooKeeper at ROOT/rings/NAME.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n%s\nExit status: 0 success, 1 refused or failed, 2 bad usage.\n",
            global_usage);
}

static void print_command_help(const struct ringctl_command *cmd)
{
    printf("usage: ringctl %s\n\n%s\n%s", cmd->usage, cmd->summary, global_usage);
}

int ringctl_fail(const struct ringctl *ctl, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ringctl %s: ", ctl->command ? ctl->command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return RINGCTL_EXIT_FAILED;
}

int ringctl_usage_error(const struct ringctl *ctl, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ringctl%s%s: ", ctl->command ? " " : "", ctl->command ? ctl->command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (ctl->command)
        fprintf(stderr, "\nsee 'ringctl %s --help'\n", ctl->command);
    else
        fprintf(stderr, "\nsee 'ringctl --help'\n");
    return RINGCTL_EXIT_USAGE;
}

/* Applies one global flag. Returns 0, or RINGCTL_EXIT_USAGE after saying why. */
static int set_global(struct ringctl *ctl, int opt, const char *arg)
{
    uint64_t ms;

    switch (opt) {
    case OPT_ZK:
        ctl->zk = arg;
        break;
    case OPT_ROOT:
        ctl->root = arg;
        break;
    case OPT_RING:
        if (!ring_valid_id(arg))
            return ringctl_usage_error(ctl, "bad ring name '%s': use 1-63 of A-Z a-z 0-9 . _ -", arg);
        ctl->ring = arg;
        break;
    case OPT_JSON:
        ctl->json = 1;
        break;
    case OPT_CONNECT_MS:
        if (ringctl_parse_uint(arg, 100, 600000, &ms) < 0)
            return ringctl_usage_error(ctl, "--connect-timeout-ms wants 100..600000, not '%s'", arg);
        ctl->connect_ms = (int)ms;
        break;
    case OPT_REDIS_USER:
        ctl->redis_user = arg;
        break;
    case OPT_REDIS_PASSWORD_FILE:
        ctl->redis_password_file = arg;
        break;
    case OPT_ZK_AUTH_FILE:
        ctl->zk_auth_file = arg;
        break;
    }
    return 0;
}

/* Parses a command's arguments (its own flags plus the global ones) and runs it. */
static int run_command(struct ringctl *ctl, const struct ringctl_command *cmd, int argc, char **argv)
{
    struct option options[OPTIONS_MAX];
    size_t n = 0;
    void *state = NULL;
    int opt, longindex, rc;

    for (const struct option *o = cmd->options; o && o->name; o++)
        options[n++] = *o;
    for (size_t i = 0; i < GLOBAL_OPTIONS; i++)
        options[n++] = global_options[i];
    memset(&options[n], 0, sizeof(options[n]));

    if (cmd->state_size) {
        state = calloc(1, cmd->state_size);
        if (!state)
            return ringctl_fail(ctl, "out of memory");
    }
    optind = 0; /* 0, not 1: glibc then forgets main's "+" (stop at the first positional) mode */
    opterr = 0;
    rc = RINGCTL_EXIT_OK;
    while (rc == RINGCTL_EXIT_OK &&
           (opt = getopt_long(argc, argv, "", options, &longindex)) != -1) {
        if (opt == OPT_HELP) {
            print_command_help(cmd);
            free(state);
            return RINGCTL_EXIT_OK;
        } else if (opt == OPT_VERSION) {
            printf("ringctl %s\n", NEARBY_VERSION);
            free(state);
            return RINGCTL_EXIT_OK;
        } else if (opt == '?' || opt == ':') {
            rc = ringctl_usage_error(ctl, "unknown flag or missing value: '%s'", argv[optind - 1]);
        } else if (opt >= OPT_ZK && opt <= OPT_ZK_AUTH_FILE) {
            rc = set_global(ctl, opt, optarg);
        } else {
            if (cmd->on_option(opt, optarg, state) < 0)
                rc = ringctl_usage_error(ctl, "bad value for --%s: '%s'", options[longindex].name,
                                         optarg ? optarg : "");
        }
    }
    if (rc == RINGCTL_EXIT_OK) {
        /* getopt moved the positionals to the end; commands see their name first. */
        char **positional = calloc((size_t)(argc - optind) + 2, sizeof(char *));

        if (!positional) {
            free(state);
            return ringctl_fail(ctl, "out of memory");
        }
        char why[512];

        if (zk_auth_use(ctl->zk_auth_file, why, sizeof(why)) < 0) {
            free(positional);
            free(state);
            return ringctl_usage_error(ctl, "--zk-auth-file %s", why);
        }
        positional[0] = argv[0];
        memcpy(positional + 1, argv + optind, (size_t)(argc - optind) * sizeof(char *));
        rc = cmd->run(ctl, argc - optind + 1, positional, state);
        free(positional);
    }
    free(state);
    return rc;
}

int main(int argc, char **argv)
{
    struct ringctl ctl = {
        .zk = getenv("NEARBY_ZK"),
        .root = RING_STORE_ROOT_DEFAULT,
        .ring = RINGCTL_RING_DEFAULT,
        .connect_ms = RINGCTL_CONNECT_MS_DEFAULT,
        .redis_user = getenv("NEARBY_REDIS_USER"),
        .redis_password_file = getenv("NEARBY_REDIS_PASSWORD_FILE"),
        .zk_auth_file = getenv("NEARBY_ZK_AUTH_FILE"),
    };
    struct option options[GLOBAL_OPTIONS + 1];
    int opt, rc;

    if (!ctl.zk || !*ctl.zk)
        ctl.zk = RINGCTL_ZK_DEFAULT;
    memcpy(options, global_options, sizeof(global_options));
    memset(&options[GLOBAL_OPTIONS], 0, sizeof(options[0]));
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        if (opt == OPT_HELP || opt == 'h') {
            print_overview(stdout);
            return RINGCTL_EXIT_OK;
        }
        if (opt == OPT_VERSION) {
            printf("ringctl %s\n", NEARBY_VERSION);
            return RINGCTL_EXIT_OK;
        }
        if (opt == '?' || opt == ':')
            return ringctl_usage_error(&ctl, "unknown flag or missing value: '%s'", argv[optind - 1]);
        rc = set_global(&ctl, opt, optarg);
        if (rc)
            return rc;
    }
    if (optind >= argc) {
        print_overview(stderr);
        return RINGCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i]->name) == 0) {
            ctl.command = commands[i]->name;
            return run_command(&ctl, commands[i], argc - optind, argv + optind);
        }
    }
    return ringctl_usage_error(&ctl, "unknown command '%s'", argv[optind]);
}
