/** Tests start private nats-servers with the same launcher `npm start` uses. */
export { startNatsServer, freePort, INSTALL_HINT, type NatsServerHandle, type NatsServerOptions } from '../../cli/nats-server.ts';
