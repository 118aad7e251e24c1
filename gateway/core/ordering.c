/* ordering.c: channel_apply, the ordering of positions and sharing changes by consent version. */
#include "ordering.h"

static int seq_recent(const struct channel *ch, uint64_t seq)
{
    for (int i = 0; i < CHANNEL_RECENT_SEQS; i++)
        if (ch->recent_seq[i] == seq)
            return 1;
    return 0;
}

static enum channel_verdict apply_sharing(struct channel *ch, const struct channel_update *u)
{
    if (u->on) {
        if (u->consent <= ch->consent)
            return CHANNEL_STALE;
        ch->consent = u->consent;
        ch->sharing = 1;
        return CHANNEL_CHANGED;
    }
    if (u->consent < ch->consent)
        return CHANNEL_STALE;
    ch->consent = u->consent;
    ch->sharing = 0;
    if (ch->ts == 0)
        return CHANNEL_CHANGED;
    ch->ts = 0;
    return CHANNEL_HIDDEN;
}

static enum channel_verdict apply_position(struct channel *ch, const struct channel_update *u)
{
    if (u->seq != 0 && seq_recent(ch, u->seq))
        return CHANNEL_DUPLICATE;
    if (u->consent != ch->consent || !ch->sharing)
        return CHANNEL_STALE;
    if (u->ts < ch->ts)
        return CHANNEL_OLDER;
    if (u->seq != 0) {
        ch->recent_seq[ch->recent_next] = u->seq;
        ch->recent_next = (uint8_t)((ch->recent_next + 1) % CHANNEL_RECENT_SEQS);
    }
    channels_set_position(ch, u->lat, u->lng, u->ts);
    return CHANNEL_MOVED;
}

enum channel_verdict channel_apply(struct channel *ch, const struct channel_update *u)
{
    return u->kind == CHANNEL_UPDATE_SHARING ? apply_sharing(ch, u) : apply_position(ch, u);
}

int channel_visible(const struct channel *ch)
{
    return ch->synced && ch->sharing && ch->ts != 0;
}
