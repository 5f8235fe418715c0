// setTimeout/setInterval on Python's event loop. pythonmonkey's own timers keep every handle forever
// (runtime-notes §1.7 #3); these hold a callback only until it fires or is cleared.
import { host } from "./host.js";

const callbacks = new Map();
let nextId = 1;

function schedule(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    throw new TypeError("The first argument to setTimeout/setInterval must be a function.");
  }
  const id = nextId++;
  const ms = Math.max(0, Number(delay) || 0);
  callbacks.set(id, { callback, args, repeat, ms });
  host.timerSet(id, ms);
  return id;
}

export function setTimeout(callback, delay = 0, ...args) {
  return schedule(callback, delay, args, false);
}

export function setInterval(callback, delay = 0, ...args) {
  return schedule(callback, delay, args, true);
}

export function clearTimeout(id) {
  id = Number(id);
  if (callbacks.delete(id)) host.timerClear(id);
}

export const clearInterval = clearTimeout;

export function fireTimer(id) {
  const timer = callbacks.get(id);
  if (timer === undefined) return;
  if (timer.repeat) host.timerSet(id, timer.ms);
  else callbacks.delete(id);
  try {
    timer.callback(...timer.args);
  } catch (error) {
    reportError(error);
  }
}

export function reportError(error) {
  console.error("Uncaught", error);
}

export function queueMicrotask(callback) {
  if (typeof callback !== "function") throw new TypeError("queueMicrotask requires a function.");
  Promise.resolve().then(() => {
    try {
      callback();
    } catch (error) {
      reportError(error);
    }
  });
}
