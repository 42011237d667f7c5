// The playbooks shipped in playbooks/, embedded in the executable as text so
// `bun build --compile` carries them; operators add theirs in [cortex] playbook_dir.
import anomalousSilence from "../../playbooks/anomalous-silence.toml" with { type: "text" };
import connectionFlood from "../../playbooks/connection-flood.toml" with { type: "text" };
import cpuSaturation from "../../playbooks/cpu-saturation.toml" with { type: "text" };
import forkStorm from "../../playbooks/fork-storm.toml" with { type: "text" };
import ioSaturation from "../../playbooks/io-saturation.toml" with { type: "text" };
import memoryLeak from "../../playbooks/memory-leak.toml" with { type: "text" };

export const SHIPPED_PLAYBOOKS: { file: string; text: string }[] = [
  { file: "shipped:anomalous-silence.toml", text: anomalousSilence },
  { file: "shipped:connection-flood.toml", text: connectionFlood },
  { file: "shipped:cpu-saturation.toml", text: cpuSaturation },
  { file: "shipped:fork-storm.toml", text: forkStorm },
  { file: "shipped:io-saturation.toml", text: ioSaturation },
  { file: "shipped:memory-leak.toml", text: memoryLeak },
];
