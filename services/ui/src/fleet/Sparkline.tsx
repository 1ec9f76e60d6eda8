/** A small SVG line chart of the last samples; gaps (null) break the line. */
import { memo } from "react";

export interface SparklineProps {
  values: (number | null)[];
  max?: number;
  width?: number;
  height?: number;
  color?: string;
  label: string;
}

export const Sparkline = memo(function Sparkline({
  values,
  max,
  width = 120,
  height = 24,
  color = "var(--accent)",
  label,
}: SparklineProps) {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null; // nothing measured (e.g. no GPU sensors): no empty chart
  const top = max ?? Math.max(1, ...present);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (height - 1 - (Math.min(v, top) / top) * (height - 2)).toFixed(1);
    d += `${pen ? "L" : "M"}${x},${y}`;
    pen = true;
  });
  return (
    <svg className="sparkline" width={width} height={height} role="img" aria-label={label} viewBox={`0 0 ${width} ${height}`}>
      <path d={d} fill="none" stroke={color} strokeWidth={1.5} />
    </svg>
  );
});
