// Every actuator, in the order the responder calls them: per target cpu,
// memory, io, freeze (so a target's records read up the ladder), then the
// node-wide ones. Adding an actuator: one file beside these and one entry here.
import type { Actuator, ActuatorContext, ActuatorFactory } from "../actuator.ts";
import { cpuActuator } from "./cpu.ts";
import { freezeActuator } from "./freeze.ts";
import { ioActuator } from "./io.ts";
import { memoryActuator } from "./memory.ts";
import { quarantineActuator } from "./quarantine.ts";
import { xdpActuator } from "./xdp.ts";

export const ACTUATORS: readonly ActuatorFactory[] = [cpuActuator, memoryActuator, ioActuator, freezeActuator, xdpActuator, quarantineActuator];

export function createActuators(ctx: ActuatorContext): Actuator[] {
  return ACTUATORS.map((make) => make(ctx));
}
