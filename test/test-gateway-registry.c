/* test-gateway-registry.c: the registration line's parser: every field, lines of older gateways, unknown keys, bad numbers, a line cut at its limit. */
#include "test-util.h"

#include "gateway_registry.h"

int main(void)
{
    struct gateway_registration r;
    char big[GATEWAY_REGISTRY_LINE_MAX * 2];

    gateway_registry_parse("addr=127.0.0.1:8080 epoch=12 pending=512 admin=127.0.0.1:9080 "
                           "sessions=40 pushes_per_s=120 dead=r3,r7", &r);
    CHECK(strcmp(r.addr, "127.0.0.1:8080") == 0);
    CHECK(strcmp(r.admin, "127.0.0.1:9080") == 0);
    CHECK(strcmp(r.dead, "r3,r7") == 0);
    CHECK(r.epoch == 12 && r.pending == 512 && r.sessions == 40 && r.pushes_per_s == 120);

    /* a gateway from before the load fields, before any ring, nothing dead */
    gateway_registry_parse("addr=10.0.0.1:1 dead=", &r);
    CHECK(strcmp(r.addr, "10.0.0.1:1") == 0 && r.admin[0] == '\0' && r.dead[0] == '\0');
    CHECK(r.epoch == -1 && r.pending == -1 && r.sessions == -1 && r.pushes_per_s == -1);

    /* unknown keys are skipped, malformed numbers too; the rest still counts */
    gateway_registry_parse("future=1 epoch=-3 sessions=12x pushes_per_s=99999999999999999999 "
                           "pending=7 addr=a:1\n", &r);
    CHECK(r.epoch == -1 && r.sessions == -1 && r.pushes_per_s == -1 && r.pending == 7);
    CHECK(strcmp(r.addr, "a:1") == 0);

    /* empty, and longer than a line may be: no overflow, the head is read */
    gateway_registry_parse("", &r);
    CHECK(r.addr[0] == '\0' && r.epoch == -1);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "epoch=5 dead=", 13);
    gateway_registry_parse(big, &r);
    CHECK(r.epoch == 5 && strlen(r.dead) < sizeof(r.dead));

    printf("gateway-registry: all checks passed\n");
    return 0;
}
