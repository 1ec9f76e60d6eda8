/** Picks an input image on a server: one of its files, or a new upload; shows a thumbnail. */
import { useState } from "react";
import { api } from "../../api/client";

export interface ImagePickerProps {
  inputId: string;
  testId: string;
  value: string;
  choices: string[];
  /** where the thumbnail comes from */
  backend: string | null;
  /** every server the job may land on: an upload goes to each (default: `backend`) */
  uploadTo?: string[];
  onChange: (value: string) => void;
}

export function ImagePicker({ inputId, testId, value, choices, backend, uploadTo, onChange }: ImagePickerProps) {
  const [error, setError] = useState<string | null>(null);
  const [uploading, setUploading] = useState(false);
  const upload = async (file: File | undefined) => {
    if (!file) return;
    const targets = uploadTo?.length ? uploadTo : backend ? [backend] : [];
    if (!targets.length) {
      setError("no server to upload to");
      return;
    }
    setUploading(true);
    try {
      const names = await Promise.all(targets.map((b) => api.uploadImage(b, file)));
      onChange(names[0]);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setUploading(false);
    }
  };
  const options = choices.includes(value) || !value ? choices : [value, ...choices];
  return (
    <div className="image-picker">
      <div className="control-row">
        <select id={inputId} value={value} data-testid={testId} onChange={(e) => onChange(e.target.value)}>
          {options.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <label className="button small">
          {uploading ? "…" : "Upload"}
          <input type="file" accept="image/*" hidden onChange={(e) => upload(e.target.files?.[0])} />
        </label>
      </div>
      {backend && value ? (
        <img
          className="thumb"
          alt={value}
          src={api.comfyViewUrl(backend, value)}
          onError={(e) => (e.currentTarget.style.display = "none")}
          onLoad={(e) => (e.currentTarget.style.display = "")}
        />
      ) : null}
      {error ? <div className="error small">{error}</div> : null}
    </div>
  );
}
