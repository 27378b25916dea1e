/**
 * The ping-pong bot's logic: answer "!ping" with "pong" through Discord's REST API.
 *
 * It is kept apart from the connection (ping-pong.ts) so it can be tested on its own against the
 * emulator (pong-handler.test.ts): the handler only needs an event and somewhere to post, and the
 * emulator answers `POST {api}/channels/{id}/messages` as Discord does, dispatching the reply back.
 *
 * In your own project, import from 'dusk' instead of '../src/index.js'.
 */
import type { Dispatch } from '../src/index.js';

export interface RestTarget {
  /** The REST base including the version: https://discord.com/api/v10, or the emulator's apiUrl. */
  api: string;
  token: string;
}

/** Returns a handler that replies to "!ping" and resolves to true when it did. */
export function createPongHandler(rest: RestTarget): (event: Dispatch) => Promise<boolean> {
  return async (event) => {
    // Bots (this one included) are never answered, or two bots could ping-pong forever.
    if (event.t !== 'MESSAGE_CREATE' || event.d.author.bot || event.d.content.trim() !== '!ping')
      return false;
    const response = await fetch(`${rest.api}/channels/${event.d.channel_id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bot ${rest.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'pong', message_reference: { message_id: event.d.id } }),
    });
    if (!response.ok) {
      // The body is Discord's error ({ message, code }); the token is not in it.
      throw new Error(
        `replying in ${event.d.channel_id} failed: HTTP ${response.status} ${await response.text()}`,
      );
    }
    return true;
  };
}
