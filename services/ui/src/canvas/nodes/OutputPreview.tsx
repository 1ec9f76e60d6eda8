/** The outputs of a node's latest job: images, masks (greyscale or overlay), video that plays, text. */
import { memo, useEffect, useState } from "react";
import { api } from "../../api/client";
import type { JobOutput } from "../../api/types";

function kindOf(o: JobOutput): "image" | "mask" | "video" | "text" | "file" {
  const k = String(o.kind).toLowerCase();
  if (k === "mask") return "mask";
  if (k === "video" || o.content_type.startsWith("video/") || /\.(mp4|webm|mov)$/i.test(o.filename)) return "video";
  if (k === "text" || o.content_type.startsWith("text/")) return "text";
  if (k === "image" || o.content_type.startsWith("image/")) return "image";
  return "file";
}

function TextOutput({ output }: { output: JobOutput }) {
  const [text, setText] = useState<string | null>(output.text ?? null);
  useEffect(() => {
    if (output.text !== undefined) return;
    let alive = true;
    fetch(api.artifactUrl(output.artifact_id))
      .then((r) => r.text())
      .then((t) => alive && setText(t))
      .catch(() => alive && setText("(could not load text)"));
    return () => {
      alive = false;
    };
  }, [output.artifact_id, output.text]);
  return <pre className="text-output nowheel">{text ?? "…"}</pre>;
}

export const OutputPreview = memo(function OutputPreview({ nodeId, outputs }: { nodeId: string; outputs: JobOutput[] }) {
  const [overlay, setOverlay] = useState(false);
  const base = outputs.find((o) => kindOf(o) === "image");
  const hasMask = outputs.some((o) => kindOf(o) === "mask");
  let firstImage = true;
  return (
    <div className="outputs">
      {hasMask && base ? (
        <label className="toggle small nodrag">
          <input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> overlay masks
        </label>
      ) : null}
      <div className="output-grid">
        {outputs.map((o) => {
          const url = api.artifactUrl(o.artifact_id);
          const kind = kindOf(o);
          const testId = firstImage && (kind === "image" || kind === "mask") ? `preview-image-${nodeId}` : undefined;
          if (testId) firstImage = false;
          switch (kind) {
            case "image":
              return (
                <a key={o.artifact_id} href={url} target="_blank" rel="noreferrer">
                  <img data-testid={testId} src={url} alt={o.filename} title={o.filename} />
                </a>
              );
            case "mask":
              return overlay && base ? (
                <div key={o.artifact_id} className="mask-overlay-wrap" title={o.filename}>
                  <img data-testid={testId} src={api.artifactUrl(base.artifact_id)} alt={o.filename} />
                  <div className="mask-overlay" style={{ maskImage: `url(${url})`, WebkitMaskImage: `url(${url})` }} />
                </div>
              ) : (
                <img key={o.artifact_id} data-testid={testId} className="mask" src={url} alt={o.filename} title={o.filename} />
              );
            case "video":
              return <video key={o.artifact_id} src={url} controls autoPlay loop muted playsInline />;
            case "text":
              return <TextOutput key={o.artifact_id} output={o} />;
            default:
              return (
                <a key={o.artifact_id} href={url} download={o.filename}>
                  {o.filename}
                </a>
              );
          }
        })}
      </div>
    </div>
  );
});
