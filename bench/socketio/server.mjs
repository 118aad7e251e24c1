// server.mjs: a Socket.IO location-sharing server as its users would write it: one room per user, @socket.io/redis-adapter across servers.
//
// A phone connects with auth {token}; it joins room u:<its id> and gets an empty
// nearby. Each loc it sends is emitted as `friend` to the rooms of all its friends,
// which the adapter publishes through Redis to every server, each delivering to the
// sockets it holds in those rooms. The friend list comes from the bench graph
// (the same friends as every other system in scripts/bench), loaded at start as a
// real server would cache it.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { loadGraph, loadKey, parseFlags, verifyToken } from './common.mjs';

const flags = parseFlags(process.argv.slice(2), {
    port: '33041', redis: 'redis://127.0.0.1:33450', graph: '', 'secret-file': '', 'radius-km': '8.047',
    'ping-interval-ms': '25000', 'ping-timeout-ms': '20000',
});
if (!flags.graph || !flags['secret-file']) {
    console.error('usage: node server.mjs --graph FILE --secret-file F [--port P] [--redis URL]\n' +
        '       [--radius-km KM] [--ping-interval-ms MS] [--ping-timeout-ms MS] (Socket.IO defaults 25000, 20000)');
    process.exit(2);
}
const friends = loadGraph(flags.graph);
const key = loadKey(flags['secret-file']);
const radiusKm = Number(flags['radius-km']);

const pubClient = createClient({ url: flags.redis });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
    adapter: createAdapter(pubClient, subClient),
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    pingInterval: Number(flags['ping-interval-ms']),
    pingTimeout: Number(flags['ping-timeout-ms']),
});

io.use((socket, next) => {
    const user = verifyToken(key, socket.handshake.auth?.token);
    if (!user || !friends.has(user)) return next(new Error('bad_token'));
    socket.data.user = user;
    socket.data.rooms = friends.get(user).map((f) => `u:${f}`);
    next();
});

io.on('connection', (socket) => {
    const user = socket.data.user;
    socket.join(`u:${user}`);
    socket.emit('nearby', { radius_km: radiusKm, friends: [] });
    socket.on('loc', (m) => {
        if (!m || typeof m.ts !== 'number') return;
        io.to(socket.data.rooms).emit('friend', { id: user, lat: m.lat, lng: m.lng, ts: m.ts, dist_km: 0 });
    });
});

httpServer.listen(Number(flags.port), '127.0.0.1', () => {
    console.error(`socketio server on 127.0.0.1:${flags.port}, ${friends.size} users`);
});
const stop = () => {
    io.close();
    Promise.allSettled([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
